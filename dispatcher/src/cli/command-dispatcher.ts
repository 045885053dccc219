import type { Command } from 'commander';
import { Dispatcher } from '../dispatcher.js';
import { configFrom, exitWithError } from './config-flags.js';
import { serveProcess } from './serve-process.js';

export function registerDispatcherCommand(program: Command): void {
  program
    .command('dispatcher')
    .description(
      'Run a dispatcher: campaign for the leader lease; the leader routes the channel into worker queues',
    )
    .action(async (_options, command: Command) => {
      try {
        const config = configFrom(command);
        await serveProcess(
          'dispatcher',
          config,
          ({ logger, registry }) => new Dispatcher({ config, logger, registry }),
        );
      } catch (error) {
        exitWithError(error);
      }
    });
}
