import { type Logger, type TlsSettings, validateLibraryOptions } from '@redispatch/shared';
import type { Registry } from 'prom-client';
import type { IsolateOptions } from './isolate/pool.js';
import type { Handler } from './message.js';

/** Options for the library; the CLI fills them from the validated config. */
export interface WorkerOptions {
  redisUrl: string;
  /** Runs in this process. Give either `handler` or `isolate`. */
  handler?: Handler;
  /** Runs the handler module in a pool of child processes, so a crashing handler cannot take the worker down. */
  isolate?: IsolateOptions;
  /** @default DEFAULT_PREFIX ("rd") */
  prefix?: string;
  /** Stable identity; a restarted worker with the same id resumes its queue. @default host-pid-random */
  id?: string;
  /** @default 16 */
  concurrency?: number;
  /** Claims beyond free handler slots (keeps the pipe full for very short handlers). @default 0 */
  prefetch?: number;
  /** @default 10_000 */
  ackTimeoutMs?: number;
  /** @default 1_000 */
  heartbeatMs?: number;
  /** @default 5 */
  maxAttempts?: number;
  /** @default 200 */
  backoffBaseMs?: number;
  /** @default 60_000 */
  backoffMaxMs?: number;
  /** @default 10_000 */
  drainTimeoutMs?: number;
  /** @default 2_000 */
  commandTimeoutMs?: number;
  /** Most replies one outbound queue holds; past it a reply is dead-lettered. @default 10_000 */
  outboundMax?: number;
  tls?: TlsSettings;
  /** `lists` (default) or `streams`. */
  mode?: 'lists' | 'streams';
  /** Streams mode: Redis Cluster seed nodes (`host:port`); empty = the single Redis at `redisUrl`. */
  clusterNodes?: readonly string[];
  /** Streams mode: announced cluster node address -> the address to connect to (NAT, port forwards). */
  clusterNatMap?: Readonly<Record<string, { host: string; port: number }>>;
  /** Streams mode: @default 6 (must match the deployment's partition table). */
  partitions?: number;
  /** Streams mode: @default "workers" */
  consumerGroup?: string;
  logger?: Logger;
  registry?: Registry;
}

/**
 * Checks every option that is also a setting with the CLI's schema (shared/src/config/options.ts) and
 * throws one ConfigError naming each bad option and its REDISPATCH_* variable.
 */
export function validateWorkerOptions(options: WorkerOptions): void {
  validateLibraryOptions(
    'Worker',
    {
      ...options,
      'isolate.poolSize': options.isolate?.poolSize,
      'isolate.maxMemoryMb': options.isolate?.maxMemoryMb,
    },
    { id: 'instanceId', 'isolate.poolSize': 'isolatePool', 'isolate.maxMemoryMb': 'isolateMaxMemoryMb' },
  );
}
