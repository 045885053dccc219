import {
  type Config,
  ConfigError,
  type ConfigFlags,
  loadConfig,
  OPTIONS,
  type OptionKey,
} from '@redispatch/shared';
import { type Command, Option } from 'commander';
import type { CommandHelp } from './command-help.js';
import { terminalSafe } from './terminal-text.js';

/**
 * Adds one flag per setting in the shared table, so every REDISPATCH_* variable has its flag on
 * every command. With a help layout, only the settings it names appear on the help page, in its
 * order, with its examples; the others stay accepted, hidden (`redispatch options` lists them).
 */
export function addConfigFlags(command: Command, help?: CommandHelp): Command {
  const shown = new Set<OptionKey>(help?.settings ?? []);
  const keys = Object.keys(OPTIONS) as OptionKey[];
  const ordered = [...(help?.settings ?? []), ...keys.filter((key) => !shown.has(key))];
  for (const key of ordered) {
    const spec = OPTIONS[key];
    const long = spec.flag.split(' ')[0];
    if (command.options.some((existing) => existing.long === long)) continue;
    const description =
      help?.describe?.[key] ??
      `${spec.description} [${spec.env}${spec.default === undefined ? '' : `, default ${spec.default}`}]`;
    command.addOption(new Option(spec.flag, description).hideHelp(!shown.has(key)));
  }
  if (help?.usage) command.usage(help.usage);
  if (help) {
    const examples = help.examples.map((line) => `  ${line}`).join('\n');
    command.addHelpText(
      'after',
      `\nExamples:\n${examples}\n\nEvery command also accepts all ${keys.length} settings (flag or REDISPATCH_* variable): redispatch options`,
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
    for (const problem of error.problems) process.stderr.write(`redispatch: ${terminalSafe(problem)}\n`);
    process.exit(2);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`redispatch: ${terminalSafe(message.split('\n')[0] ?? '')}\n`);
  process.exit(1);
}
