import { ConfigError, tlsSettingsFrom } from '@redispatch/shared';
import { loadHandler, Worker } from '@redispatch/worker';
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
          ? {
              isolate: {
                module: config.handler,
                poolSize: config.isolatePool,
                maxMemoryMb: config.isolateMaxMemoryMb,
              },
            }
          : { handler: await loadHandler(config.handler) };
        await serveProcess(
          'worker',
          config,
          ({ logger, registry }) =>
            new Worker({
              redisUrl: config.redisUrl,
              ...run,
              prefix: config.prefix,
              id: config.instanceId,
              concurrency: config.concurrency,
              prefetch: config.prefetch,
              ackTimeoutMs: config.ackTimeoutMs,
              heartbeatMs: config.heartbeatMs,
              maxAttempts: config.maxAttempts,
              backoffBaseMs: config.backoffBaseMs,
              backoffMaxMs: config.backoffMaxMs,
              drainTimeoutMs: config.drainTimeoutMs,
              commandTimeoutMs: config.commandTimeoutMs,
              outboundMax: config.outboundMax,
              tls: tlsSettingsFrom(config),
              mode: config.mode,
              clusterNodes: config.clusterNodes ?? [],
              clusterNatMap: config.clusterNatMap,
              partitions: config.partitions,
              consumerGroup: config.consumerGroup,
              logger,
              registry,
            }),
        );
      } catch (error) {
        exitWithError(error);
      }
    });
}
