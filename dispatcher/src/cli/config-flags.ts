import {
  type Config,
  ConfigError,
  type ConfigFlags,
  loadConfig,
  OPTIONS,
  type OptionKey,
} from '@redispatch/shared';
import type { Command } from 'commander';

/** Adds one flag per setting in the shared table, so every REDISPATCH_* variable has its flag. */
export function addConfigFlags(command: Command): Command {
  for (const spec of Object.values(OPTIONS)) {
    const long = spec.flag.split(' ')[0];
    if (command.options.some((existing) => existing.long === long)) continue;
    command.option(
      spec.flag,
      `${spec.description} [${spec.env}${spec.default === undefined ? '' : `, default ${spec.default}`}]`,
    );
  }
  return command;
}

/** Loads the config from the environment and the flags given on the command line. */
export function configFrom(command: Command): Config {
  const opts = command.optsWithGlobals() as Record<string, string | undefined>;
  const flags: ConfigFlags = {};
  for (const key of Object.keys(OPTIONS) as OptionKey[]) {
    if (opts[key] !== undefined) flags[key] = String(opts[key]);
  }
  const config = loadConfig(process.env, flags);
  return config;
}

/** Prints an error as one line per problem and exits: 2 for bad configuration, 1 otherwise. */
export function exitWithError(error: unknown): never {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) process.stderr.write(`redispatch: ${problem}\n`);
    process.exit(2);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`redispatch: ${message.split('\n')[0]}\n`);
  process.exit(1);
}
