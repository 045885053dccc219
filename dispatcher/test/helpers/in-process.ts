import { type Config, createLogger, loadConfig } from '@redispatch/shared';
import { type Handler, Worker, type WorkerOptions } from '@redispatch/worker';
import { Registry } from 'prom-client';
import { Dispatcher } from '../../src/dispatcher.js';

let counter = 0;

/** A fresh namespace per test so files and tests can share one Redis without seeing each other. */
export function uniquePrefix(name: string): string {
  counter += 1;
  return `${name}-${process.pid}-${counter}`;
}

/** Fast timings so failure tests finish in seconds. */
/** A test's environment: the settings every spawn needs are known keys, the rest free-form. */
export type TestEnv = Record<string, string> & {
  REDISPATCH_REDIS_URL: string;
  REDISPATCH_PREFIX: string;
  REDISPATCH_CHANNEL: string;
};

export function testEnv(redisUrl: string, prefix: string, extra: Record<string, string> = {}): TestEnv {
  return {
    REDISPATCH_REDIS_URL: redisUrl,
    REDISPATCH_PREFIX: prefix,
    REDISPATCH_CHANNEL: `${prefix}-in`,
    REDISPATCH_LEASE_MS: '1000',
    REDISPATCH_ACK_TIMEOUT_MS: '2000',
    REDISPATCH_HEARTBEAT_MS: '200',
    REDISPATCH_WORKER_TTL_MS: '1000',
    REDISPATCH_REAP_INTERVAL_MS: '100',
    REDISPATCH_BACKOFF_BASE_MS: '50',
    REDISPATCH_BACKOFF_MAX_MS: '400',
    REDISPATCH_METRICS_PORT: '-1',
    REDISPATCH_LOG_LEVEL: 'silent',
    ...extra,
  };
}

export function testConfig(redisUrl: string, prefix: string, extra: Record<string, string> = {}): Config {
  return loadConfig(testEnv(redisUrl, prefix, extra));
}

export interface Fleet {
  dispatchers: Dispatcher[];
  workers: Worker[];
  startWorker(handler: Handler, options?: Partial<WorkerOptions>): Promise<Worker>;
  startDispatcher(): Promise<Dispatcher>;
  leader(): Dispatcher | undefined;
  close(): Promise<void>;
}

/** Dispatchers and workers in this process (real Redis, real scripts), closed together. */
export function fleet(config: Config): Fleet {
  const dispatchers: Dispatcher[] = [];
  const workers: Worker[] = [];
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  return {
    dispatchers,
    workers,
    async startDispatcher() {
      const dispatcher = new Dispatcher({
        config: { ...config, instanceId: `d${dispatchers.length + 1}-${config.prefix}` },
        logger,
        registry: new Registry(),
      });
      dispatchers.push(dispatcher);
      await dispatcher.start();
      return dispatcher;
    },
    async startWorker(handler, options = {}) {
      const worker = new Worker({
        redisUrl: config.redisUrl,
        prefix: config.prefix,
        id: `w${workers.length + 1}`,
        handler,
        concurrency: config.concurrency,
        ackTimeoutMs: config.ackTimeoutMs,
        heartbeatMs: config.heartbeatMs,
        maxAttempts: config.maxAttempts,
        backoffBaseMs: config.backoffBaseMs,
        backoffMaxMs: config.backoffMaxMs,
        drainTimeoutMs: config.drainTimeoutMs,
        mode: config.mode,
        clusterNodes: config.clusterNodes ?? [],
        partitions: config.partitions,
        consumerGroup: config.consumerGroup,
        logger,
        ...options,
      });
      workers.push(worker);
      await worker.start();
      return worker;
    },
    leader: () => dispatchers.find((d) => d.state === 'leading'),
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(dispatchers.map((d) => d.close()));
    },
  };
}
