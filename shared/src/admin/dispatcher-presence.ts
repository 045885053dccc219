import type { DataClient } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';

/** What `stats` shows of one dispatcher (the `dispatchers` entries of `stats --json`). */
export interface DispatcherPresence {
  id: string;
  /** `leader`, `standby`, or the lifecycle state it is passing through (`starting`, `stopping`). */
  role: string;
  /** A standby whose buffer provably holds everything the leader has not written (a leader: true). */
  caughtUp: boolean;
  /** Messages in its standby buffer (a leader: 0). */
  buffered: number;
  host: string;
  pid: number;
}

/** Records live this many beats: a dispatcher that stops beating drops out of `stats` by itself. */
const TTL_BEATS = 3;
/** Ids whose beat is this old are pruned from the index (generous: clocks of hosts differ). */
const PRUNE_AFTER_MS = 10 * 60_000;

/** One beat: the record (expiring) and its index entry; the index's long-dead ids are pruned. */
export async function writePresence(
  client: DataClient,
  keys: Keys,
  presence: DispatcherPresence,
  beatMs: number,
): Promise<void> {
  const now = Date.now();
  await client
    .pipeline()
    .set(keys.dispatcherInfo(presence.id), JSON.stringify(presence), 'PX', beatMs * TTL_BEATS)
    .zadd(keys.dispatchers, now, presence.id)
    .zremrangebyscore(keys.dispatchers, '-inf', now - PRUNE_AFTER_MS)
    .exec();
}

/** On a clean stop: gone from `stats` at once. */
export async function removePresence(client: DataClient, keys: Keys, id: string): Promise<void> {
  await client.pipeline().del(keys.dispatcherInfo(id)).zrem(keys.dispatchers, id).exec();
}

/** Every dispatcher whose record has not expired, the leader first, then by id. */
export async function readDispatchers(client: DataClient, keys: Keys): Promise<DispatcherPresence[]> {
  const ids = await client.zrange(keys.dispatchers, 0, -1);
  if (ids.length === 0) return [];
  const reads = client.pipeline();
  for (const id of ids) reads.get(keys.dispatcherInfo(id));
  const out: DispatcherPresence[] = [];
  for (const [error, value] of (await reads.exec()) ?? []) {
    if (error || typeof value !== 'string') continue;
    try {
      out.push(JSON.parse(value) as DispatcherPresence);
    } catch {
      // A record written by something else is not a dispatcher.
    }
  }
  const rank = (p: DispatcherPresence) => (p.role === 'leader' ? 0 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}
