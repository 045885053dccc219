import { hostname } from 'node:os';
import type { Config } from '@redispatch/shared';
import {
  type AnnouncerOptions,
  closeQuietly,
  createDataConnection,
  createKeys,
  createLogger,
  createRegistry,
  EndpointAnnouncer,
  type Logger,
  MetricsServer,
  type Readiness,
  settingSource,
  tlsSettingsFrom,
} from '@redispatch/shared';
import type { Registry } from 'prom-client';
import { onParentGone } from './parent-link.js';

export interface Service {
  start(): Promise<void>;
  close(): Promise<void>;
  readiness(): Readiness;
  /** A dispatcher's role, caught up and buffered, recorded with its endpoint directory entry. */
  details?: AnnouncerOptions['details'];
  /** After close: 'incomplete' when it could not flush (the process then exits non-zero). */
  readonly closeOutcome?: 'clean' | 'incomplete';
}

/**
 * The whole stop, from the signal to the exit, beyond REDISPATCH_DRAIN_TIMEOUT_MS (guarantee 9,
 * issue 22: every role within the drain timeout plus 2 s, whatever its connections are doing). Each
 * service bounds its own close steps; this is the backstop for what follows them (the endpoint
 * directory, the metrics server) and for a service whose own budget is longer.
 */
const STOP_MARGIN_MS = 1_800;

/** The metrics server, when enabled; a default port that is taken falls back to a free one. */
async function startMetrics(
  config: Config,
  registry: Registry,
  readiness: () => Readiness,
  logger: Logger,
): Promise<MetricsServer | undefined> {
  if (config.metricsPort < 0) return undefined;
  const whenTaken = settingSource(config, 'metricsPort') === 'default' ? 'free-port' : 'fail';
  const metrics = new MetricsServer({
    port: config.metricsPort,
    host: config.metricsHost,
    registry,
    readiness,
    whenTaken,
  });
  const port = await metrics.listen();
  if (port !== config.metricsPort && config.metricsPort !== 0)
    logger.info(
      { port, host: config.metricsHost, taken: config.metricsPort },
      'metrics server listening on a free port: the default was taken (set REDISPATCH_METRICS_PORT to choose)',
    );
  else logger.info({ port, host: config.metricsHost }, 'metrics server listening');
  return metrics;
}

/**
 * Keeps this process's entry in the deployment's endpoint directory, for `stats`. A service with
 * details (a dispatcher) refreshes every REDISPATCH_HEARTBEAT_MS so its role and buffer are current;
 * the others every ENDPOINT_REFRESH_MS.
 */
function announce(
  config: Config,
  role: string,
  metrics: MetricsServer | undefined,
  logger: Logger,
  details: Service['details'],
) {
  const client = createDataConnection('command', {
    url: config.redisUrl,
    clusterNodes: config.mode === 'streams' ? config.clusterNodes : undefined,
    clusterNatMap: config.clusterNatMap,
    tls: tlsSettingsFrom(config),
    commandTimeoutMs: config.commandTimeoutMs,
    name: 'rd-endpoint',
  });
  client.on('error', () => {});
  // The first refresh waits for the connection (later ones just retry); ioredis reconnects by itself.
  client.once('ready', () => announcer.start());
  client.connect().catch(() => {});
  const announcer = new EndpointAnnouncer(
    client,
    createKeys(config.prefix),
    {
      id: config.instanceId,
      role,
      host: hostname(),
      pid: process.pid,
      metrics: metrics ? metrics.address(hostname()) : null,
    },
    (error) => logger.warn({ err: error }, 'could not record this process in the endpoint directory (stats)'),
    details ? { details, refreshMs: config.heartbeatMs } : {},
  );
  return {
    close: async () => {
      await announcer.close();
      await closeQuietly(client);
    },
  };
}

/**
 * Runs one long-lived role: metrics server, start, and close on SIGTERM/SIGINT or when the
 * `redispatch up` that started it is gone (a second signal forces exit). Exits 0 after a clean close.
 */
export async function serveProcess(
  role: string,
  config: Config,
  build: (context: { logger: Logger; registry: Registry }) => Promise<Service> | Service,
): Promise<void> {
  const logger = createLogger(config.logLevel, { role });
  const registry = createRegistry(role);
  let service: Service | undefined;
  // Listening first means a taken port fails before anything connects, and the address is known
  // before the service announces itself.
  const metrics = await startMetrics(
    config,
    registry,
    () => service?.readiness() ?? { ready: false, state: 'starting' },
    logger,
  );
  try {
    service = await build({ logger, registry });
  } catch (error) {
    await metrics?.close();
    throw error;
  }
  const running = service;
  // Announced once started: a process that fails its start (a bad database, another deployment's
  // mode) must leave nothing behind in Redis.
  let directory: { close(): Promise<void> } | undefined;
  let stopping = false;
  const shutdown = (reason: string) => {
    if (stopping) {
      logger.warn({ signal: reason }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal: reason }, 'shutting down');
    const budgetMs = config.drainTimeoutMs + STOP_MARGIN_MS;
    setTimeout(() => {
      logger.error(
        { budgetMs },
        'shutdown ran out of its budget (REDISPATCH_DRAIN_TIMEOUT_MS + 2 s): exiting with work left (standbys hold unwritten messages; claims are redelivered)',
      );
      process.exit(1);
    }, budgetMs).unref();
    running
      .close()
      .then(() => directory?.close())
      .then(() => metrics?.close())
      .then(() => process.exit(running.closeOutcome === 'incomplete' ? 1 : 0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Already draining (up sent SIGTERM and then died) is no reason to force the exit.
  onParentGone(() => {
    if (!stopping) shutdown('parent gone');
  });
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled rejection');
  });
  try {
    await running.start();
  } catch (error) {
    await running.close().catch(() => {});
    await metrics?.close();
    throw error;
  }
  if (!stopping) directory = announce(config, role, metrics, logger, running.details?.bind(running));
}
