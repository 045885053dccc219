import { z } from 'zod';
import * as d from './defaults.js';
import { intAtLeast, option } from './option-schemas.js';

/**
 * Leadership, delivery and process settings: lease, ack timeout, attempts and backoff, concurrency,
 * heartbeats, batching and back-pressure, payload limit, drain, metrics and logging.
 */
export const DELIVERY_OPTIONS = {
  leaseMs: option(
    'LEASE_MS',
    '--lease-ms <ms>',
    'Leader lease; renewed every lease/3 (a failed renewal is retried while the lease still holds), taken over every lease/4',
    intAtLeast(300),
    String(d.DEFAULT_LEASE_MS),
  ),
  ackTimeoutMs: option(
    'ACK_TIMEOUT_MS',
    '--ack-timeout-ms <ms>',
    'Visibility timeout: a claimed message not acked in time is redelivered',
    intAtLeast(100),
    String(d.DEFAULT_ACK_TIMEOUT_MS),
  ),
  maxAttempts: option(
    'MAX_ATTEMPTS',
    '--max-attempts <n>',
    'Deliveries before a message is dead-lettered',
    intAtLeast(1, 1000),
    String(d.DEFAULT_MAX_ATTEMPTS),
  ),
  concurrency: option(
    'CONCURRENCY',
    '--concurrency <n>',
    'Handlers a worker runs at once',
    intAtLeast(1, 10_000),
    String(d.DEFAULT_CONCURRENCY),
  ),
  metricsPort: option(
    'METRICS_PORT',
    '--metrics-port <port>',
    'Port for /metrics, /healthz, /readyz (0 picks a free port; -1 disables)',
    intAtLeast(-1, 65535),
    String(d.DEFAULT_METRICS_PORT),
  ),
  metricsHost: option(
    'METRICS_HOST',
    '--metrics-host <host>',
    'Address the metrics server binds',
    z.string().min(1),
    '0.0.0.0',
  ),
  logLevel: option(
    'LOG_LEVEL',
    '--log-level <level>',
    'pino level',
    z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    'info',
  ),
  heartbeatMs: option(
    'HEARTBEAT_MS',
    '--heartbeat-ms <ms>',
    'Heartbeat interval of workers and relays (their registration) and of dispatchers (the record stats shows of them)',
    intAtLeast(50),
    String(d.DEFAULT_HEARTBEAT_MS),
  ),
  workerTtlMs: option(
    'WORKER_TTL_MS',
    '--worker-ttl-ms <ms>',
    'A worker silent this long is dead; its messages are reassigned',
    intAtLeast(150),
    String(d.DEFAULT_WORKER_TTL_MS),
  ),
  batchSize: option(
    'BATCH_SIZE',
    '--batch-size <n>',
    'Most messages the leader writes in one script call',
    intAtLeast(1, 100_000),
    String(d.DEFAULT_BATCH_SIZE),
  ),
  queueHighWater: option(
    'QUEUE_HIGH_WATER',
    '--queue-high-water <n>',
    'A worker queue this long is skipped (backpressure); overflow waits in the backlog',
    intAtLeast(1),
    String(d.DEFAULT_QUEUE_HIGH_WATER),
  ),
  prefetch: option(
    'PREFETCH',
    '--prefetch <n>',
    'Messages a worker claims beyond its free handler slots (default 0)',
    intAtLeast(0, 100_000),
    '0',
  ),
  backoffBaseMs: option(
    'BACKOFF_BASE_MS',
    '--backoff-base-ms <ms>',
    'First retry delay after a nack; doubles per attempt',
    intAtLeast(0),
    String(d.DEFAULT_BACKOFF_BASE_MS),
  ),
  backoffMaxMs: option(
    'BACKOFF_MAX_MS',
    '--backoff-max-ms <ms>',
    'Cap on the retry delay',
    intAtLeast(0),
    String(d.DEFAULT_BACKOFF_MAX_MS),
  ),
  reapIntervalMs: option(
    'REAP_INTERVAL_MS',
    '--reap-interval-ms <ms>',
    'How often the leader reaps expired deadlines, dead workers and due delays',
    intAtLeast(10),
    String(d.DEFAULT_REAP_INTERVAL_MS),
  ),
  maxPayloadBytes: option(
    'MAX_PAYLOAD_BYTES',
    '--max-payload-bytes <n>',
    'Larger payloads are dead-lettered with reason "oversize"',
    intAtLeast(1),
    String(d.DEFAULT_MAX_PAYLOAD_BYTES),
  ),
  drainTimeoutMs: option(
    'DRAIN_TIMEOUT_MS',
    '--drain-timeout-ms <ms>',
    'Grace period on SIGTERM: a worker finishes in-flight work, a relay lets its sockets drain, a dispatcher flushes and hands over; every role exits within it plus a few seconds, even with Redis down',
    intAtLeast(0),
    String(d.DEFAULT_DRAIN_TIMEOUT_MS),
  ),
  commandTimeoutMs: option(
    'COMMAND_TIMEOUT_MS',
    '--command-timeout-ms <ms>',
    'Timeout for each Redis command on request connections',
    intAtLeast(50),
    String(d.DEFAULT_COMMAND_TIMEOUT_MS),
  ),
};
