import type { DataClient } from '../redis/data-connection.js';
import { calculateSlot, masterOf } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';
import type { PartitionKeys } from '../streams/partition-keys.js';
import {
  leaderFrom,
  type PartitionStats,
  type Stats,
  TOTAL_FIELDS,
  type Totals,
  withEndpoints,
} from './stats.js';

type Flat = (string | number | null)[];

function fields(flat: Flat): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1] ?? null;
  return out;
}

/** A read that treats a partition that does not exist yet as empty. */
async function orEmpty<T>(read: Promise<T>, empty: T): Promise<T> {
  try {
    return await read;
  } catch (error) {
    if (/no such key|NOGROUP/i.test((error as Error).message)) return empty;
    throw error;
  }
}

/**
 * Streams mode's `stats`: the same document as lists mode (inflight = pending entries, backlog =
 * undelivered entries, workers' inflight = their pending entries), plus one row per partition with
 * the master serving it, so the spread over the cluster is visible. Read-only, no MULTI.
 */
export async function readStreamStats(
  client: DataClient,
  keys: Keys,
  prefix: string,
  partitions: readonly PartitionKeys[],
  group: string,
): Promise<Stats> {
  const [time, leaderHash, epoch, workerPairs, globalTotals, endpointHash] = await Promise.all([
    client.time(),
    client.hgetall(keys.leader),
    client.get(keys.epoch),
    client.zrange(keys.workers, 0, -1, 'WITHSCORES'),
    client.hgetall(keys.totals),
    client.hgetall(keys.endpoints),
  ]);
  const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const perConsumer = new Map<string, number>();
  const totals = Object.fromEntries(TOTAL_FIELDS.map((f) => [f, Number(globalTotals[f] ?? 0)])) as Record<
    string,
    number
  >;
  const rows: PartitionStats[] = await Promise.all(
    partitions.map(async (p) => {
      // The priority stream (there once a message with a priority reached the partition) counts with
      // the partition stream: its entries are the partition's too.
      // Held by a per-key limit (lua/includes/key-gate.lua): one body per held message, one member per key.
      const [normal, prioritized, delayed, deadLetters, partTotals, held, keysWaiting] = await Promise.all([
        readGroupStream(client, p.stream, group),
        readGroupStream(client, p.priorityStream, group),
        client.zcard(p.delayed),
        client.xlen(p.dlq),
        client.hgetall(p.totals),
        client.hlen(p.keyGateHeld),
        client.scard(p.keyGateWaiting),
      ]);
      for (const consumer of [...normal.consumers, ...prioritized.consumers]) {
        const name = String(consumer.name);
        perConsumer.set(name, (perConsumer.get(name) ?? 0) + Number(consumer.pending ?? 0));
      }
      for (const field of TOTAL_FIELDS) totals[field] = (totals[field] ?? 0) + Number(partTotals[field] ?? 0);
      const undelivered =
        normal.undelivered < 0 || prioritized.undelivered < 0
          ? -1
          : normal.undelivered + prioritized.undelivered;
      return {
        index: p.index,
        stream: p.stream,
        slot: calculateSlot(p.stream),
        node: masterOf(client, p.stream),
        length: normal.length + prioritized.length,
        pending: normal.pending + prioritized.pending,
        undelivered,
        delayed,
        deadLetters,
        ...(held > 0 ? { held, keysWaiting } : {}),
      };
    }),
  );
  const workers = [];
  for (let i = 0; i + 1 < workerPairs.length; i += 2) {
    const id = workerPairs[i] ?? '';
    workers.push({
      id,
      queued: 0,
      inflight: perConsumer.get(id) ?? 0,
      heartbeatAgeMs: Math.max(0, nowMs - Number(workerPairs[i + 1])),
    });
  }
  const sum = (pick: (row: PartitionStats) => number) =>
    rows.reduce((acc, row) => acc + Math.max(0, pick(row)), 0);
  const leader = leaderFrom(leaderHash);
  const keysWaiting = sum((r) => r.keysWaiting ?? 0);
  const stats = {
    mode: 'streams' as const,
    prefix,
    leader,
    epoch: Number(epoch ?? 0),
    workers,
    inflight: sum((r) => r.pending),
    delayed: sum((r) => r.delayed),
    // Messages held by a per-key limit are accepted and not yet delivered: backlog, as in lists mode.
    backlog: sum((r) => r.undelivered) + sum((r) => r.held ?? 0),
    deadLetters: sum((r) => r.deadLetters),
    totals: totals as unknown as Totals,
    group,
    partitions: rows,
    ...(keysWaiting > 0 ? { keysWaiting } : {}),
  };
  return withEndpoints(stats, endpointHash, nowMs);
}

/** One stream's length, its group's pending and undelivered entries (-1: Redis cannot tell), its consumers. */
async function readGroupStream(client: DataClient, key: string, group: string) {
  const [length, groups, consumers] = await Promise.all([
    client.xlen(key),
    orEmpty(client.xinfo('GROUPS', key) as Promise<Flat[]>, []),
    orEmpty(client.xinfo('CONSUMERS', key, group) as Promise<Flat[]>, []),
  ]);
  const info = groups.map(fields).find((g) => g.name === group);
  const lag = info?.lag;
  return {
    length,
    pending: Number(info?.pending ?? 0),
    undelivered: typeof lag === 'number' ? lag : info ? -1 : length,
    consumers: consumers.map(fields),
  };
}
