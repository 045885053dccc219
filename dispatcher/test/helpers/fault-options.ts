// The size of the fault suite (bounded under `npm test`, full under `npm run test:faults`) and what
// a FaultCluster is started with.

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `npm run test:faults` sets REDISPATCH_FAULTS=1: every scenario at full size and every variant. Without
 * it (`npm test`) the suite runs in a bounded form: the same faults and the same assertions (lost = 0,
 * the duplicate bounds) with fewer messages and fewer repetitions, so it fits in a few minutes.
 */
export const FAULTS_FULL = process.env.REDISPATCH_FAULTS === '1';

/** A message count (or repetition count) for the full suite and for the bounded form. */
export function faultSize(full: number, bounded: number): number {
  return FAULTS_FULL ? full : bounded;
}

export interface FaultClusterOptions {
  name: string;
  /** The data Redis as the admin, the workers and the publisher reach it (streams: one cluster node). */
  redisUrl: string;
  /** Streams mode on this Redis Cluster (REDISPATCH_CLUSTER_NODES); lists mode when absent. */
  clusterSeeds?: string;
  /** The data Redis URL dispatcher `index` (0-based) uses (e.g. through its own proxy); default `redisUrl`. */
  dispatcherRedisUrl?: (index: number) => string;
  dispatchers?: number;
  workers?: number;
  concurrency?: number;
  handler?: string;
  /** Extra environment for every process (REDISPATCH_*, CHECK_DELAY_MS…). */
  env?: Record<string, string>;
  /** Extra environment for dispatcher `index` only. */
  dispatcherEnv?: (index: number) => Record<string, string>;
  /** Extra environment for worker `index` only (replacements get the next indexes). */
  workerEnv?: (index: number) => Record<string, string>;
  /** Serve /metrics on a free port from every dispatcher (for `redelivered()`). */
  dispatcherMetrics?: boolean;
}
