import type { DataClient, PartitionKeys } from '@redispatch/shared';
import type { MessageView } from './message-lookup.js';

/** Stream entries read per XREVRANGE page. */
const PAGE = 500;
/**
 * Entries searched per stream (partition and dead letters), newest first. A stream entry is found
 * by its message id only by reading entries (ids are fields, not keys): the search is bounded, and a
 * message older than this in a long stream is reported `unknown` with a note saying so.
 */
export const STREAM_SEARCH_LIMIT = 20_000;

type Entry = [Buffer, Buffer[]];

interface Found {
  entryId: string;
  fields: Map<string, Buffer>;
}

interface Search {
  found?: Found;
  /** The search stopped at STREAM_SEARCH_LIMIT before the start of the stream. */
  truncated: boolean;
}

/** Newest first, the entry whose field `i` is the id. */
async function searchStream(client: DataClient, key: string, id: string): Promise<Search> {
  let end = '+';
  for (let read = 0; read < STREAM_SEARCH_LIMIT; ) {
    const page = (await client.callBuffer('XREVRANGE', key, end, '-', 'COUNT', PAGE)) as Entry[];
    for (const [rawId, flat] of page) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        if (String(flat[i]) === 'i' && String(flat[i + 1]) === id) {
          const fields = new Map<string, Buffer>();
          for (let j = 0; j + 1 < flat.length; j += 2) fields.set(String(flat[j]), flat[j + 1] as Buffer);
          return { found: { entryId: rawId.toString(), fields }, truncated: false };
        }
      }
    }
    read += page.length;
    const last = page.at(-1);
    if (page.length < PAGE || !last) return { truncated: false };
    end = `(${last[0].toString()}`;
  }
  return { truncated: true };
}

/** Stream entry ids compare as (ms, seq). */
function entryAfter(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}

/**
 * Streams mode: every partition is asked (a message's partition follows its affinity key, which
 * only its header names): the delayed set by id, then the newest STREAM_SEARCH_LIMIT entries of the
 * dead-letter stream and of the partition. A partition entry is `inflight` while pending (the
 * consumer is the worker; the deadline is when reclaim may take it), `backlog` while undelivered, and
 * `unknown` with a note once acknowledged. Read-only.
 */
export async function lookUpStreamsMessage(
  client: DataClient,
  partitions: readonly PartitionKeys[],
  group: string,
  ackTimeoutMs: number,
  id: string,
): Promise<MessageView> {
  const views = await Promise.all(partitions.map((p) => inPartition(client, p, group, ackTimeoutMs, id)));
  const rank: Record<MessageView['state'], number> = {
    inflight: 0,
    queued: 1,
    backlog: 1,
    delayed: 2,
    dead: 3,
    unknown: 4,
  };
  const best = views.sort((a, b) => rank[a.state] - rank[b.state] || (b.note ? 1 : 0) - (a.note ? 1 : 0))[0];
  return best ?? { id, state: 'unknown', attempts: 0 };
}

async function inPartition(
  client: DataClient,
  p: PartitionKeys,
  group: string,
  ackTimeoutMs: number,
  id: string,
): Promise<MessageView> {
  const base = { id, partition: p.index };
  const [due, delayedBody, delayedAttempts, lastError] = await Promise.all([
    client.zscore(p.delayed, id),
    client.hgetBuffer(p.delayedBody, id),
    client.hget(p.delayedAttempts, id),
    client.hget(p.errors, id),
  ]);
  const withError = lastError ? { lastError } : {};
  if (due !== null)
    return {
      ...base,
      state: 'delayed',
      // "<attempts>[|<limit>][q<level>]" (a limit or a priority of its own), or nothing for none.
      attempts: Number.parseInt(delayedAttempts ?? '0', 10) || 0,
      dueAt: Number(due),
      ...withError,
      ...(delayedBody ? { body: delayedBody.toString('base64') } : {}),
    };
  // A message with a priority lives in the partition's priority stream (none there: an empty read).
  const prioritized = await searchStream(client, p.priorityStream, id);
  if (prioritized.found)
    return liveEntry(
      client,
      { ...p, stream: p.priorityStream },
      group,
      ackTimeoutMs,
      base,
      prioritized.found,
    );
  const live = await searchStream(client, p.stream, id);
  if (live.found) return liveEntry(client, p, group, ackTimeoutMs, base, live.found);
  const dead = await searchStream(client, p.dlq, id);
  if (dead.found) {
    const f = dead.found.fields;
    return {
      ...base,
      state: 'dead',
      attempts: Number(f.get('a')?.toString() ?? 0),
      deadAt: Number(dead.found.entryId.split('-')[0]),
      lastError: f.get('r')?.toString() ?? '',
      body: (f.get('p') ?? Buffer.alloc(0)).toString('base64'),
    };
  }
  const truncated = prioritized.truncated || live.truncated || dead.truncated;
  return {
    ...base,
    state: 'unknown',
    attempts: 0,
    ...(truncated ? { note: `searched only the newest ${STREAM_SEARCH_LIMIT} entries of a stream` } : {}),
  };
}

async function liveEntry(
  client: DataClient,
  p: PartitionKeys,
  group: string,
  ackTimeoutMs: number,
  base: { id: string; partition: number },
  found: Found,
): Promise<MessageView> {
  const earlier = Number(found.fields.get('n')?.toString() ?? 0);
  const body = (found.fields.get('p') ?? Buffer.alloc(0)).toString('base64');
  const [pending, groups, time] = await Promise.all([
    client.xpending(p.stream, group, found.entryId, found.entryId, 1) as Promise<
      [string, string, number, number][]
    >,
    client.xinfo('GROUPS', p.stream) as Promise<(string | number)[][]>,
    client.time(),
  ]);
  const claim = pending[0];
  if (claim) {
    const [, consumer, idleMs, deliveries] = claim;
    const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    return {
      ...base,
      state: 'inflight',
      attempts: earlier + Number(deliveries),
      worker: consumer,
      deadline: nowMs - Number(idleMs) + ackTimeoutMs,
      body,
    };
  }
  const info = groups.map(fieldsOf).find((g) => g.name === group);
  const lastDelivered = String(info?.['last-delivered-id'] ?? '0-0');
  if (entryAfter(found.entryId, lastDelivered)) return { ...base, state: 'backlog', attempts: earlier, body };
  return {
    ...base,
    state: 'unknown',
    attempts: earlier,
    note: 'acknowledged (not yet trimmed from the stream)',
    body,
  };
}

function fieldsOf(flat: (string | number)[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1] ?? '';
  return out;
}
