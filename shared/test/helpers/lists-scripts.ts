// The lists-mode scripts called directly, for the script-level tests (lua-scripts*.test.ts): the
// file's Redis, each test's keys, and one typed helper per script with the test's usual arguments.
import { createKeys } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { useScriptRedis } from './script-redis.js';

// Live bindings: the test files read `redis` and `keys` as set before each test.
export let redis: Redis;
export let keys = createKeys('unset');

/** Registers the file's redis-server and a fresh prefix per test (see useScriptRedis). */
export function useListsScripts(name: string): void {
  useScriptRedis(
    name,
    'lua',
    (connected) => {
      redis = connected;
    },
    (fresh) => {
      keys = fresh;
    },
  );
}

export const fixed = () => [
  keys.epoch,
  keys.body,
  keys.backlog,
  keys.totals,
  keys.dlq,
  keys.errors,
  keys.progress,
  keys.workers,
  keys.delayed,
  keys.attempts,
];

export async function elect(): Promise<number> {
  return redis.rdElect(keys.epoch, keys.leader, 'd1', 'host', 1, 3000);
}

export async function dispatch(
  epoch: number,
  workers: string[],
  messages: [string, string][] | [string, string, string, string][],
  opts: {
    highWater?: number;
    rr?: number;
    dead?: [string, string, string][];
    ttlMs?: number;
    routing?: 'round-robin' | 'least-loaded';
    dedupeWindowMs?: number;
  } = {},
): Promise<number[]> {
  // Tests name workers without registering them unless they need to: register here so they count as live.
  for (const worker of workers) await redis.zadd(keys.workers, 'NX', Date.now() + 60_000, worker);
  const queueKeys = workers.map((w) => keys.queue(w));
  const tuples = messages.map((m) => (m.length === 4 ? m : [m[0], m[1], '', '']));
  return redis.rdDispatchBatch(
    10 + queueKeys.length,
    ...fixed(),
    ...queueKeys,
    String(epoch),
    opts.highWater ?? 1000,
    opts.rr ?? 1,
    tuples.length,
    opts.dead?.length ?? 0,
    tuples.at(-1)?.[0] ?? '',
    opts.ttlMs ?? 5_000,
    opts.routing ?? 'round-robin',
    opts.dedupeWindowMs ?? 60_000,
    keys.tag,
    ...workers,
    ...tuples.flat(),
    ...(opts.dead ?? []).flat(),
  );
}

export async function register(worker: string): Promise<void> {
  await redis.rdHeartbeat(keys.workers, worker, 'beat');
}

export async function claim(worker: string, count: number, ackTimeoutMs = 10_000, rotated = '') {
  return redis.rdClaim(
    keys.queue(worker),
    keys.inflight,
    keys.owner,
    keys.held(worker),
    keys.attempts,
    keys.body,
    keys.workers,
    keys.backlog,
    worker,
    count,
    ackTimeoutMs,
    rotated,
  );
}

export async function settle(
  worker: string,
  acks: string[],
  nacks: [string, number, string][],
  maxAttempts = 3,
) {
  return redis.rdSettle(
    keys.inflight,
    keys.owner,
    keys.held(worker),
    keys.attempts,
    keys.body,
    keys.errors,
    keys.delayed,
    keys.dlq,
    keys.totals,
    worker,
    maxAttempts,
    acks.length,
    nacks.length,
    ...acks,
    ...nacks.flat(),
  );
}

export async function reap(epoch: number, workerTtlMs = 5_000, maxAttempts = 3) {
  const k = keys;
  return redis.rdReap(
    k.epoch,
    k.workers,
    k.inflight,
    k.delayed,
    k.backlog,
    k.owner,
    k.attempts,
    k.errors,
    k.dlq,
    k.totals,
    k.body,
    String(epoch),
    workerTtlMs,
    maxAttempts,
    1000,
    k.tag,
  );
}

export const msgs = (n: number, from = 0): [string, string][] =>
  Array.from({ length: n }, (_, i) => [`m${from + i}`, `body${from + i}`]);
