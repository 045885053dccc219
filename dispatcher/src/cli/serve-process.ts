import type { Config } from '@redispatch/shared';
import { createLogger, createRegistry, type Logger, MetricsServer, type Readiness } from '@redispatch/shared';
import type { Registry } from 'prom-client';

export interface Service {
  start(): Promise<void>;
  close(): Promise<void>;
  readiness(): Readiness;
}

/**
 * Runs one long-lived role: metrics server, start, and close on SIGTERM/SIGINT (a second signal
 * forces exit). Exits 0 after a clean close.
 */
export async function serveProcess(
  role: string,
  config: Config,
  build: (context: { logger: Logger; registry: Registry }) => Promise<Service> | Service,
): Promise<void> {
  const logger = createLogger(config.logLevel, { role });
  const registry = createRegistry(role);
  const service = await build({ logger, registry });
  let metrics: MetricsServer | undefined;
  if (config.metricsPort >= 0) {
    metrics = new MetricsServer({
      port: config.metricsPort,
      host: config.metricsHost,
      registry,
      readiness: () => service.readiness(),
    });
    const port = await metrics.listen();
    logger.info({ port, host: config.metricsHost }, 'metrics server listening');
  }
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down');
    service
      .close()
      .then(() => metrics?.close())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled rejection');
  });
  try {
    await service.start();
  } catch (error) {
    await service.close().catch(() => {});
    await metrics?.close();
    throw error;
  }
}
