import { createLogger } from '@redispatch/shared';
import type { Command } from 'commander';
import { ConsoleServer } from '../console/console-server.js';
import { openAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';

/** `redispatch console`: the web page and admin HTTP API (docs/console.md). */
export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description(
      'Serve the web console and its admin HTTP API: the election, workers, partitions, totals, dead letters, message lookup',
    )
    .action(async (_options, command: Command) => {
      try {
        const config = configFrom(command);
        const logger = createLogger(config.logLevel, { role: 'console' });
        const scope = await openAdminScope(config, 'rd-console');
        const server = new ConsoleServer({ config, scope, logger });
        let port: number;
        try {
          port = await server.listen();
        } catch (error) {
          await scope.close();
          throw error;
        }
        const readOnly = config.consoleToken === undefined;
        logger.info(
          // Not `url`: the logger redacts that key (Redis URLs carry passwords).
          { host: config.consoleHost, port, readOnly },
          readOnly
            ? 'console listening (read-only: set REDISPATCH_CONSOLE_TOKEN to replay and purge)'
            : 'console listening',
        );
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) process.exit(130);
          stopping = true;
          logger.info({ signal }, 'shutting down');
          server
            .close()
            .then(() => scope.close())
            .then(() => process.exit(0))
            .catch(() => process.exit(1));
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
      } catch (error) {
        exitWithError(error);
      }
    });
}
