import type { Redis } from 'ioredis';
import {
  type DispatcherStatus,
  dispatchersFrom,
  endpointsFrom,
  type ProcessEndpoint,
} from '../observability/endpoint-directory.js';
import type { Keys } from '../redis/keys.js';
import { timeReplyMs } from '../redis/server-time.js';

export interface LeaderInfo {
  id: string;
  host: string;
  pid: number;
  epoch: number;
  /** Epoch milliseconds (Redis server clock) when this leader was elected. */
  since: number;
  /** `host:port` of its metrics server; null when it serves none or has not said (older versions). */
  metrics?: string | null;
}

export interface WorkerStats {
  id: string;
  /** Messages waiting in the worker's own queue. */
  queued: number;
  /** Messages the worker has claimed and not yet settled. */
  inflight: number;
  /** Milliseconds since the last heartbeat (Redis server clock). */
  heartbeatAgeMs: number;
  /** `host:port` of its metrics server; null when it serves none or has not said (older versions). */
  metrics?: string | null;
}

export interface Totals {
  accepted: number;
  dispatched: number;
  acked: number;
  nacked: number;
  redelivered: number;
  deadLettered: number;
  replayed: number;
  /** Messages new leaders replayed from their standby buffers (failover duplicates are at most these). */
  failoverReplayed: number;
  /** Messages dropped as repeats of a publisher message id within the dedupe window. */
  deduplicated: number;
}

/** Streams mode: one partition stream and where it lives. */
export interface PartitionStats {
  index: number;
  stream: string;
  slot: number;
  /** `host:port` of the master serving the partition ('' on a single Redis). */
  node: string;
  /** Entries in the stream (pending, undelivered, and acknowledged but not yet trimmed). */
  length: number;
  /** Delivered and not yet acknowledged. */
  pending: number;
  /** Not yet delivered to any consumer (-1 when Redis cannot tell). */
  undelivered: number;
  delayed: number;
  deadLetters: number;
  /** Messages held by a per-key limit (counted in the stats' `backlog`); only while > 0. */
  held?: number;
  /** Affinity keys with held messages; only while > 0. */
  keysWaiting?: number;
}

/** The `stats --json` document. Field names are a contract: extend, never rename. */
export interface Stats {
  mode: 'lists' | 'streams';
  prefix: string;
  leader: LeaderInfo | null;
  epoch: number;
  workers: WorkerStats[];
  inflight: number;
  delayed: number;
  backlog: number;
  deadLetters: number;
  totals: Totals;
  /** Streams mode: the consumer group. */
  group?: string;
  /** Streams mode: one entry per partition, with the master serving it. */
  partitions?: PartitionStats[];
  /** Every live dispatcher, worker and relay, with where it serves /metrics. */
  processes: ProcessEndpoint[];
  /** Every live dispatcher (leader first): the `processes` entries of role dispatcher, with their details. */
  dispatchers: DispatcherStatus[];
  /** Routing is paused (`redispatch pause`, docs/flow-control.md): the state the leader applied. */
  paused?: boolean;
  /**
   * Affinity keys with messages held back by a per-key limit (docs/flow-control.md, Per-key limits);
   * those messages are counted in `backlog`. Both modes; only while > 0.
   */
  keysWaiting?: number;
  /** Counters per second over the last `stats --watch` interval; null until there are two samples. */
  rates?: Rates | null;
  /** `stats --watch`: when this sample was taken (ISO 8601, this host's clock). */
  sampledAt?: string;
}

export interface Rates {
  acceptedPerSec: number;
  ackedPerSec: number;
  /** Seconds between the two samples. */
  intervalSec: number;
}

/**
 * Adds the endpoint directory to a stats document: `processes`, `dispatchers`, and `metrics` on the
 * leader and each worker (by id).
 */
export function withEndpoints(
  stats: Omit<Stats, 'processes' | 'dispatchers'>,
  endpointHash: Record<string, string>,
  nowMs: number,
): Stats {
  const processes = endpointsFrom(endpointHash, nowMs);
  const metricsOf = (id: string) => processes.find((p) => p.id === id)?.metrics ?? null;
  return {
    ...stats,
    leader: stats.leader ? { ...stats.leader, metrics: metricsOf(stats.leader.id) } : null,
    workers: stats.workers.map((worker) => ({ ...worker, metrics: metricsOf(worker.id) })),
    processes,
    dispatchers: dispatchersFrom(processes),
  };
}

/** The leader info record as HGETALL returns it, or null when nobody leads. */
export function leaderFrom(hash: Record<string, string>): LeaderInfo | null {
  if (!hash.id) return null;
  return {
    id: hash.id,
    host: hash.host ?? '',
    pid: Number(hash.pid),
    epoch: Number(hash.epoch),
    since: Number(hash.since),
  };
}

export const TOTAL_FIELDS = [
  'accepted',
  'dispatched',
  'acked',
  'nacked',
  'redelivered',
  'deadLettered',
  'replayed',
  'failoverReplayed',
  'deduplicated',
] as const;

/** Most waiting keys whose held messages `stats` counts into the backlog (one LLEN each). */
const KEYS_WAITING_COUNTED = 10_000;

/** Reads the whole cluster's state in two pipelined round trips. Read-only. */
export async function readStats(redis: Redis, keys: Keys, prefix: string): Promise<Stats> {
  // A pipeline, not MULTI: Redis refuses a whole transaction at maxmemory (EXECABORT), and stats
  // must keep working exactly when something is wrong.
  const first = await redis
    .pipeline()
    .time()
    .hgetall(keys.leader)
    .get(keys.epoch)
    .zrange(keys.workers, 0, -1, 'WITHSCORES')
    .zcard(keys.inflight)
    .zcard(keys.delayed)
    .llen(keys.backlog)
    .zcard(keys.dlq)
    .hgetall(keys.totals)
    .hgetall(keys.endpoints)
    .llen(keys.flowHeld)
    .zrange(keys.keyWait, 0, KEYS_WAITING_COUNTED - 1)
    .zcard(keys.keyWait)
    .exec();
  if (!first) throw new Error('stats pipeline returned nothing');
  const value = <T>(index: number): T => {
    const entry = first[index];
    if (!entry || entry[0]) throw entry?.[0] ?? new Error('missing reply');
    return entry[1] as T;
  };
  const nowMs = timeReplyMs(value<[string, string]>(0));
  const leaderHash = value<Record<string, string>>(1);
  const workerPairs = value<string[]>(3);
  const totalsHash = value<Record<string, string>>(8);

  const workerIds: { id: string; beat: number }[] = [];
  for (let i = 0; i + 1 < workerPairs.length; i += 2) {
    workerIds.push({ id: workerPairs[i] ?? '', beat: Number(workerPairs[i + 1]) });
  }
  const perWorker = redis.pipeline();
  for (const { id } of workerIds) perWorker.llen(keys.queue(id)).scard(keys.held(id));
  const waitingKeys = value<string[]>(11);
  for (const key of waitingKeys) perWorker.llen(keys.keyHeld(key));
  const replies = workerIds.length + waitingKeys.length > 0 ? ((await perWorker.exec()) ?? []) : [];
  let keyHeld = 0;
  for (let i = workerIds.length * 2; i < replies.length; i++) keyHeld += Number(replies[i]?.[1] ?? 0);
  const workers = workerIds.map(({ id, beat }, index) => ({
    id,
    queued: Number(replies[index * 2]?.[1] ?? 0),
    inflight: Number(replies[index * 2 + 1]?.[1] ?? 0),
    heartbeatAgeMs: Math.max(0, nowMs - beat),
  }));

  const totals = Object.fromEntries(
    TOTAL_FIELDS.map((field) => [field, Number(totalsHash[field] ?? 0)]),
  ) as unknown as Totals;
  const stats = {
    mode: 'lists' as const,
    prefix,
    leader: leaderFrom(leaderHash),
    epoch: Number(value<string | null>(2) ?? 0),
    workers,
    inflight: value<number>(4),
    delayed: value<number>(5),
    // What a pause or a per-key limit holds (docs/flow-control.md) waits for routing too: part of the backlog.
    backlog: value<number>(6) + value<number>(10) + keyHeld,
    deadLetters: value<number>(7),
    totals,
    ...(value<number>(12) > 0 ? { keysWaiting: value<number>(12) } : {}),
  };
  return withEndpoints(stats, value<Record<string, string>>(9), nowMs);
}
