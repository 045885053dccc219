import type { Redis } from 'ioredis';
import { dlqPurge, dlqReplay } from '../redis/calls/dead-letter-calls.js';
import type { Keys } from '../redis/keys.js';

export interface DeadLetter {
  id: string;
  /** Why it was dead-lettered: the handler's last error, "ack timeout", "oversize", … */
  reason: string;
  attempts: number;
  /** Epoch milliseconds (Redis server clock). */
  deadLetteredAt: number;
  body: Buffer;
  /** The handler error's stack (first 4 KB), when the last attempt ended in a thrown Error. */
  stack?: string;
}

const PURGE_CHUNK = 1_000;

/** Oldest first. */
export async function listDeadLetters(redis: Redis, keys: Keys, limit: number): Promise<DeadLetter[]> {
  const entries = await redis.zrange(keys.dlq, 0, limit - 1, 'WITHSCORES');
  const ids: { id: string; at: number }[] = [];
  for (let i = 0; i + 1 < entries.length; i += 2)
    ids.push({ id: entries[i] ?? '', at: Number(entries[i + 1]) });
  if (ids.length === 0) return [];
  const names = ids.map((entry) => entry.id);
  const [bodies, reasons, attempts] = await Promise.all([
    redis.hmgetBuffer(keys.body, ...names),
    redis.hmget(keys.errors, ...names),
    redis.hmget(keys.attempts, ...names),
  ]);
  return ids.map(({ id, at }, index) => ({
    id,
    reason: reasons[index] ?? '',
    attempts: Number.parseInt(attempts[index] ?? '0', 10),
    deadLetteredAt: at,
    body: bodies[index] ?? Buffer.alloc(0),
  }));
}

/** Sends dead letters back to routing with a fresh attempt count; `'all'` replays every one. */
export async function replayDeadLetters(
  redis: Redis,
  keys: Keys,
  ids: readonly string[] | 'all',
): Promise<number> {
  if (ids !== 'all') return dlqReplay(redis, keys, { ids });
  let total = 0;
  for (;;) {
    const replayed = await dlqReplay(redis, keys, { oldest: PURGE_CHUNK });
    total += replayed;
    if (replayed < PURGE_CHUNK) return total;
  }
}

/** Deletes every dead letter and its body, in bounded chunks. */
export async function purgeDeadLetters(redis: Redis, keys: Keys): Promise<number> {
  let total = 0;
  for (;;) {
    const purged = await dlqPurge(redis, keys, { limit: PURGE_CHUNK });
    total += purged;
    if (purged < PURGE_CHUNK) return total;
  }
}
