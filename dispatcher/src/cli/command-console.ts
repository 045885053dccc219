import type { Command } from 'commander';
import { ConsoleServer } from '../console/console-server.js';
import { openAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';
import { serveProcess } from './serve-process.js';

/**
 * `redispatch console`: the web page and admin HTTP API (docs/console.md). Runs like every
 * long-lived role (metrics server with /healthz and /readyz, an endpoint directory entry, a clean
 * stop on SIGTERM), over one admin connection that joins the deployment first (its mode and shape).
 */
export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description(
      'Serve the web console and its admin HTTP API: the election, workers, partitions, totals, dead letters, message lookup',
    )
    .action(async (_options, command: Command) => {
      try {
        const config = configFrom(command);
        await serveProcess('console', config, async ({ logger }) => {
          const scope = await openAdminScope(config, 'rd-console');
          const server = new ConsoleServer({ config, scope, logger });
          let state: 'starting' | 'serving' | 'stopping' = 'starting';
          return {
            async start() {
              let port: number;
              try {
                port = await server.listen();
              } catch (error) {
                await scope.close();
                throw error;
              }
              state = 'serving';
              const readOnly = config.consoleToken === undefined;
              // Not `url`: the logger redacts that key (Redis URLs carry passwords).
              logger.info(
                { host: config.consoleHost, port, readOnly },
                readOnly
                  ? 'console listening (read-only: set REDISPATCH_CONSOLE_TOKEN to replay and purge)'
                  : 'console listening',
              );
            },
            async close() {
              state = 'stopping';
              await server.close();
              await scope.close();
            },
            readiness: () => ({ ready: state === 'serving', state }),
          };
        });
      } catch (error) {
        exitWithError(error);
      }
    });
}
