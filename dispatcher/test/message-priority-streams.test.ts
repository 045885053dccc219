import { fileURLToPath } from 'node:url';
import { createKeys, loadPartitions, type PartitionKeys, Publisher } from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { lookUpStreamsMessage } from '../src/console/stream-message-lookup.js';
import { type CliProcess, spawnCli } from './helpers/cli-process.js';
import { type Fleet, fleet, uniquePrefix } from './helpers/in-process.js';
import { useModeBackend } from './helpers/mode-backend.js';

/**
 * Priority in streams mode, through a real leader and worker on a Redis Cluster: one partition, one
 * worker taking one message at a time, held on its first message (a gate) while the rest wait in the
 * streams, so the order it then handles them in is what the partition's two streams decide.
 */
const backend = useModeBackend('streams');
const HOLDING_HANDLER = fileURLToPath(new URL('./fixtures/holding-handler.mjs', import.meta.url));
let current: Fleet | undefined;
let killed: CliProcess | undefined;
afterEach(async () => {
  killed?.kill('SIGKILL');
  killed = undefined;
  await current?.close();
  current = undefined;
});

async function partitionOf(prefix: string): Promise<PartitionKeys> {
  const [p] = await loadPartitions(backend.admin, createKeys(prefix), prefix, 1);
  return p as PartitionKeys;
}

async function gatedWorker(name: string) {
  const prefix = uniquePrefix(name);
  const config = backend.config(prefix, { REDISPATCH_ACK_TIMEOUT_MS: '10000', REDISPATCH_PARTITIONS: '1' });
  current = fleet(config);
  const handled: string[] = [];
  /** msg.extend answers for the gated first message (an entry of the priority stream). */
  const extended: boolean[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  await current.startDispatcher();
  await current.startWorker(
    async (msg: Message) => {
      handled.push(msg.body.toString());
      if (msg.body.toString() === 'first') extended.push(await msg.extend(5_000));
      await gate;
    },
    { concurrency: 1, prefetch: 0 },
  );
  await expect.poll(() => current?.leader()?.state, { timeout: 15_000 }).toBe('leading');
  await expect.poll(() => backend.subscribers(config.channel), { timeout: 10_000 }).toBeGreaterThan(0);
  const partition = await partitionOf(prefix);
  /** Entries of both streams not yet delivered to any consumer. */
  const waiting = async () => {
    let count = 0;
    for (const key of [partition.stream, partition.priorityStream]) {
      if ((await backend.admin.exists(key)) === 0) continue;
      const groups = (await backend.admin.xinfo('GROUPS', key)) as (string | number)[][];
      const group = groups.find((g) => g[g.indexOf('name') + 1] === config.consumerGroup) ?? [];
      const last = String(group[group.indexOf('last-delivered-id') + 1]);
      count += (await backend.admin.xrange(key, `(${last}`, '+')).length;
    }
    return count;
  };
  const publisher = new Publisher({ redis: backend.admin, channel: config.channel, prefix });
  // A first prioritized message makes the partition's priority stream; the worker learns of it on a
  // reclaim pass and reads it: that message is the one the gate holds.
  await publisher.publish('first', { priority: 1 });
  await expect.poll(() => handled, { timeout: 15_000 }).toEqual(['first']);
  const lows = Array.from({ length: 30 }, (_, i) => `low-${i}`);
  await publisher.publishBatch(lows.map((body) => ({ body })));
  await expect.poll(waiting, { timeout: 10_000 }).toBe(30);
  return { handled, extended, open, waiting, publisher, lows, partition, config };
}

describe('priority: streams mode', () => {
  it('a burst of low then one high: the high one is handled before every queued low', async () => {
    const w = await gatedWorker('sprio-burst');
    await w.publisher.publish('high', { priority: 9 });
    await expect.poll(w.waiting, { timeout: 10_000 }).toBe(31);
    w.open();
    await expect.poll(() => w.handled.length, { timeout: 20_000 }).toBe(32);
    expect(w.handled).toEqual(['first', 'high', ...w.lows]);
    // Extending reaches the stream the entry came from.
    expect(w.extended).toEqual([true]);
  });

  it('stats and the console lookup count and find entries of the priority stream', async () => {
    const w = await gatedWorker('sprio-stats');
    await w.publisher.publish('high', { priority: 9 });
    await w.publisher.publish('high-later', { priority: 4, delayMs: 600_000 });
    await expect.poll(w.waiting, { timeout: 10_000 }).toBe(31);
    const idOf = async (body: string) =>
      (await backend.admin.xrange(w.partition.priorityStream, '-', '+'))
        .map(([, f]) => f)
        .find((f) => f[f.indexOf('p') + 1]?.endsWith(body))?.[1] ?? '';
    const look = async (id: string) =>
      lookUpStreamsMessage(backend.admin, [w.partition], w.config.consumerGroup, 10_000, id);
    expect(await look(await idOf('first'))).toMatchObject({ state: 'inflight', attempts: 1, worker: 'w1' });
    expect(await look(await idOf('high'))).toMatchObject({ state: 'backlog', attempts: 0 });
    const [delayedId = ''] = await backend.admin.zrange(w.partition.delayed, 0, -1);
    expect(await look(delayedId)).toMatchObject({ state: 'delayed', attempts: 0 });
    const stats = await backend.stats(w.config);
    expect(stats).toMatchObject({ inflight: 1, backlog: 31, delayed: 1 });
    expect(stats.partitions?.[0]).toMatchObject({ length: 32, pending: 1, undelivered: 31 });
    expect(stats.workers).toEqual([expect.objectContaining({ id: 'w1', inflight: 1 })]);
    w.open();
  });

  it('a delayed prioritized message goes to the priority stream when due, ahead of the queued lows', async () => {
    const w = await gatedWorker('sprio-delayed');
    await w.publisher.publish('later-high', { priority: 7, delayMs: 300 });
    await w.publisher.publish('plain-later', { delayMs: 300 });
    await expect.poll(w.waiting, { timeout: 10_000 }).toBe(32);
    expect(await backend.admin.xlen(w.partition.priorityStream)).toBe(2);
    w.open();
    await expect.poll(() => w.handled.length, { timeout: 20_000 }).toBe(33);
    expect(w.handled).toEqual(['first', 'later-high', ...w.lows, 'plain-later']);
  });

  it('a worker SIGKILLed holding prioritized entries: another worker reclaims them from the priority stream, 0 lost', async () => {
    const prefix = uniquePrefix('sprio-kill');
    const extra = { REDISPATCH_PARTITIONS: '1', REDISPATCH_CONCURRENCY: '16' };
    const config = backend.config(prefix, extra);
    current = fleet(config);
    await current.startDispatcher();
    await expect.poll(() => current?.leader()?.state, { timeout: 15_000 }).toBe('leading');
    await expect.poll(() => backend.subscribers(config.channel), { timeout: 10_000 }).toBeGreaterThan(0);
    killed = spawnCli(['worker', '--handler', HOLDING_HANDLER], backend.env(prefix, extra));
    await killed.waitForLog(/worker registered/);
    const publisher = new Publisher({ redis: backend.admin, channel: config.channel, prefix });
    const bodies = Array.from({ length: 10 }, (_, i) => `held-${i}`);
    await publisher.publishBatch(bodies.map((body, i) => ({ body, options: { priority: 1 + (i % 9) } })));
    const partition = await partitionOf(prefix);
    const pendingInPriorityStream = async () =>
      (await backend.admin.exists(partition.priorityStream)) === 0
        ? 0
        : Number(
            ((await backend.admin.xpending(partition.priorityStream, config.consumerGroup)) as [number])[0],
          );
    // All ten were delivered to the first worker, from the priority stream.
    await expect.poll(pendingInPriorityStream, { timeout: 15_000 }).toBe(10);
    killed.kill('SIGKILL');
    await killed.exited();
    const handled: string[] = [];
    await current.startWorker(async (msg: Message) => {
      handled.push(msg.body.toString());
    });
    await expect.poll(() => handled.length, { timeout: 20_000 }).toBe(10);
    expect([...handled].sort()).toEqual([...bodies].sort());
    await expect.poll(pendingInPriorityStream, { timeout: 10_000 }).toBe(0);
    expect(await backend.admin.xlen(partition.dlq)).toBe(0);
  });
});
