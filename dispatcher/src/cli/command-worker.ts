import { ConfigError } from '@redispatch/shared';
import { isolateOptionsFrom, loadHandler, Worker, workerOptionsFrom } from '@redispatch/worker';
import type { Command } from 'commander';
import { configFrom, exitWithError } from './config-flags.js';
import { serveProcess } from './serve-process.js';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: register, take messages from its queue, run the handler, ack in batches')
    .action(async (_options, command: Command) => {
      try {
        const config = configFrom(command);
        if (!config.handler) {
          throw new ConfigError([
            'REDISPATCH_HANDLER (--handler) is required: the module whose default export handles a message',
          ]);
        }
        // Isolated, the module is loaded only in the handler processes: its import cannot crash the worker.
        const run = config.isolate
          ? { isolate: isolateOptionsFrom(config, config.handler) }
          : { handler: await loadHandler(config.handler) };
        await serveProcess(
          'worker',
          config,
          ({ logger, registry }) => new Worker({ ...workerOptionsFrom(config), ...run, logger, registry }),
        );
      } catch (error) {
        exitWithError(error);
      }
    });
}
