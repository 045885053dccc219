#!/usr/bin/env node
import { Command } from 'commander';
import { registerConsoleCommand } from './command-console.js';
import { registerDispatcherCommand } from './command-dispatcher.js';
import { registerDlqCommand } from './command-dlq.js';
import { registerFlowCommands } from './command-flow.js';
import { COMMAND_HELP } from './command-help.js';
import { registerOptionsCommand } from './command-options.js';
import { registerOutboundDlqCommand } from './command-outbound-dlq.js';
import { registerPublishCommand } from './command-publish.js';
import { registerRelayCommand } from './command-relay.js';
import { registerResultsCommand } from './command-results.js';
import { registerScheduleCommand } from './command-schedule.js';
import { registerStatsCommand } from './command-stats.js';
import { registerUpCommand } from './command-up.js';
import { registerWorkerCommand } from './command-worker.js';
import { addConfigFlags } from './config-flags.js';

const program = new Command('redispatch')
  .description('A highly available dispatcher cluster on Redis')
  .version('0.1.0')
  .configureOutput({
    writeErr: (text) => process.stderr.write(text),
    // A usage error is one line, like a bad setting; the help is one `--help` away.
    outputError: (text, write) =>
      write(
        `redispatch: ${text
          .replace(/^error: /, '')
          .replace(/\s+/g, ' ')
          .trim()} (see --help)\n`,
      ),
  })
  // Usage errors exit 2, like configuration errors; --help and --version exit 0. Subcommands inherit this.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));
addConfigFlags(program);
registerDispatcherCommand(program);
registerWorkerCommand(program);
registerPublishCommand(program);
registerStatsCommand(program);
registerDlqCommand(program);
registerUpCommand(program);
registerRelayCommand(program);
registerOutboundDlqCommand(program);
registerOptionsCommand(program);
registerConsoleCommand(program);
registerResultsCommand(program);
registerFlowCommands(program);
registerScheduleCommand(program);
// Settings are accepted before or after the subcommand (`redispatch worker --handler x`); each
// command's help shows its own few (COMMAND_HELP), `redispatch options` all of them.
const withSettings = (command: Command, path: string[]): void => {
  for (const sub of command.commands) {
    const subPath = [...path, sub.name()];
    if (sub.commands.length > 0) withSettings(sub, subPath);
    else addConfigFlags(sub, COMMAND_HELP[subPath.join(' ')] ?? { settings: [], examples: [] });
  }
};
withSettings(program, []);
program.addHelpText(
  'after',
  `
Examples:
  redispatch up                                  # everything locally, embedded Redis
  redispatch worker --help                       # a command's own options and examples
  redispatch options                             # every setting, accepted by every command

Docs: docs/README.md in the repository (configuration: docs/configuration.md).`,
);
await program.parseAsync(process.argv);
