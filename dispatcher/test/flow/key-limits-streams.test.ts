// Per-key limits in streams mode (issue 19, docs/flow-control.md "Per-key limits in streams mode") with
// real processes on a real Redis Cluster: CLI dispatchers, CLI workers running a handler that records,
// per affinity key, the order messages start in and any moment two of one key were in handlers at once.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Publisher, type PublishItem } from '@redispatch/shared';
import { freePort, type RedisClusterHandle, startRedisCluster } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, killEverything } from '../helpers/fault-cluster.js';
import { sampleValue, scrape } from '../helpers/metrics-probe.js';

const KEY_ORDER_HANDLER = fileURLToPath(new URL('../fixtures/key-order-handler.mjs', import.meta.url));

let redisCluster: RedisClusterHandle;
beforeAll(async () => {
  redisCluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(async () => {
  await killEverything();
  await redisCluster?.stop();
});

const on = () => ({
  redisUrl: redisCluster.nodes[0]?.url ?? '',
  clusterSeeds: redisCluster.seeds,
  handler: KEY_ORDER_HANDLER,
});

/** `perKey` messages for each key, interleaved across keys (body "<runId>:<seq>:<key>:<keySeq>"). */
function keyedMessages(runId: string, keys: readonly string[], perKey: number, from = 0): PublishItem[] {
  const items: PublishItem[] = [];
  for (let keySeq = 0; keySeq < perKey; keySeq++)
    for (const key of keys) {
      const seq: number = from + items.length;
      items.push({ body: `${runId}:${seq}:${key}:${keySeq}`, options: { affinityKey: key } });
    }
  return items;
}

async function publish(fleet: FaultCluster, items: readonly PublishItem[], chunk = 40) {
  const publisher = new Publisher({
    redis: fleet.data,
    channel: fleet.env.REDISPATCH_CHANNEL ?? '',
    prefix: fleet.prefix,
  });
  for (let i = 0; i < items.length; i += chunk) await publisher.publishBatch(items.slice(i, i + chunk));
}

/** The key's starts, in the order they happened: [keySeq, ms] (a redelivery repeats a keySeq). */
function starts(fleet: FaultCluster, key: string): [number, number][] {
  const file = join(fleet.dir, `order-${key}`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(' ').map(Number) as [number, number]);
}

/** The key's messages in start order, a redelivery right after its own first start folded in. */
function startOrder(fleet: FaultCluster, key: string): number[] {
  const order: number[] = [];
  for (const [keySeq] of starts(fleet, key)) if (order.at(-1) !== keySeq) order.push(keySeq);
  return order;
}

function overlaps(fleet: FaultCluster): string[] {
  const file = join(fleet.dir, 'overlaps');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('per-key limits (streams mode, Redis Cluster)', () => {
  it('key concurrency 1: strict per-key order under 3 workers, one worker and then the leader SIGKILLed mid-run, never two of a key at once, 0 lost', async () => {
    const env = { REDISPATCH_KEY_CONCURRENCY: '1', CHECK_DELAY_MS: '15' };
    await FaultCluster.run(
      { name: 'keyconc', ...on(), dispatchers: 3, workers: 3, concurrency: 16, env },
      async (fleet) => {
        const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
        const perKey = 50;
        const count = keys.length * perKey;
        const runId = 'keyconc';
        const publishing = publish(fleet, keyedMessages(runId, keys, perKey), 20);
        // A worker SIGKILLed while it handles: its entries stay pending, keep their keys' slots, and
        // are reclaimed after the ack timeout (2 s) by another worker.
        await expect.poll(() => fleet.check(runId, count).handled, { timeout: 30_000 }).toBeGreaterThan(60);
        const [victim] = fleet.workers.values();
        victim?.kill('SIGKILL');
        await publishing;
        // The leader SIGKILLed too: its successor continues the same gates (the counts and held lists in
        // each partition's slot), fenced by the partition fences.
        await expect.poll(() => fleet.check(runId, count).handled, { timeout: 30_000 }).toBeGreaterThan(150);
        const { proc, epoch } = await fleet.leader();
        const killedAt = performance.now();
        proc.kill('SIGKILL');
        await fleet.newLeader(epoch, killedAt);
        const result = await fleet.waitHandled(runId, count, 90_000, 15_000);
        expect(result.lost, fleet.missingRanges(runId, count)).toBe(0);
        expect(overlaps(fleet)).toEqual([]);
        for (const key of keys) expect(startOrder(fleet, key), `key ${key}`).toEqual(range(perKey));
        expect(FaultCluster.inventory(await fleet.waitIdle(30_000)).missing).toBe(0);
      },
    );
  }, 240_000);

  it('key concurrency 1: a busy key holds up only its own messages', async () => {
    const env = {
      REDISPATCH_KEY_CONCURRENCY: '1',
      CHECK_SLOW_MS: '8000',
      REDISPATCH_ACK_TIMEOUT_MS: '30000',
    };
    const ports = [await freePort(), await freePort()];
    const dispatcherEnv = (index: number) => ({ REDISPATCH_METRICS_PORT: String(ports[index]) });
    /** A metric summed over both dispatchers (the standby's are 0). */
    const metric = async (name: string, labels: Record<string, string> = {}) => {
      let total = 0;
      for (const port of ports) total += sampleValue((await scrape(port)).families, name, labels) ?? 0;
      return total;
    };
    await FaultCluster.run(
      { name: 'keybusy', ...on(), dispatchers: 2, workers: 2, concurrency: 8, env, dispatcherEnv },
      async (fleet) => {
        const runId = 'keybusy';
        const slow = keyedMessages(runId, ['slow'], 3);
        const others = keyedMessages(runId, ['p', 'q', 'r', 's'], 25, slow.length);
        await publish(fleet, slow);
        await expect.poll(() => starts(fleet, 'slow').length, { timeout: 20_000 }).toBe(1);
        // The leader counted the two it held, and sees one key waiting.
        await expect.poll(() => metric('redispatch_flow_keys_waiting'), { timeout: 10_000 }).toBe(1);
        expect(await metric('redispatch_flow_key_held_total', { limit: 'concurrency' })).toBe(2);
        await publish(fleet, others);
        const count = slow.length + others.length;
        // Every other key's 100 messages are handled while the busy key's first is still in its handler.
        const othersStarted = () =>
          ['p', 'q', 'r', 's'].reduce((n, key) => n + startOrder(fleet, key).length, 0);
        await expect.poll(othersStarted, { timeout: 20_000 }).toBe(others.length);
        expect(startOrder(fleet, 'slow')).toEqual([0]);
        expect((await fleet.waitHandled(runId, count, 60_000, 15_000)).lost).toBe(0);
        expect(startOrder(fleet, 'slow')).toEqual([0, 1, 2]);
        expect(overlaps(fleet)).toEqual([]);
      },
    );
  }, 120_000);

  it('key rate limit: each key at its rate over a few seconds, unkeyed messages not held, across a leader SIGKILL, 0 lost', async () => {
    const rate = 10;
    // Burst 0: one second of the rate (10), so a release that comes a little late loses nothing.
    const env = { REDISPATCH_KEY_RATE_LIMIT: String(rate) };
    const burst = rate;
    await FaultCluster.run(
      { name: 'keyrate', ...on(), dispatchers: 3, workers: 2, concurrency: 16, env },
      async (fleet) => {
        const runId = 'keyrate';
        const keys = ['x', 'y', 'z'];
        const perKey = 80;
        const keyed = keyedMessages(runId, keys, perKey);
        const free = keyedMessages(runId, ['free'], 100, keyed.length).map((item) => ({ body: item.body }));
        const count = keyed.length + free.length;
        await publish(fleet, keyed);
        await publish(fleet, free);
        // 100 messages without a key are not held: all handled before any key is through (5 s each).
        await expect.poll(() => starts(fleet, 'free').length, { timeout: 20_000 }).toBe(100);
        for (const key of keys) expect(starts(fleet, key).length, `key ${key}`).toBeLessThan(perKey);
        await expect.poll(() => starts(fleet, 'x').length, { timeout: 20_000 }).toBeGreaterThan(50);
        const { proc, epoch } = await fleet.leader();
        const killedAtMs = Date.now();
        const killedAt = performance.now();
        proc.kill('SIGKILL');
        await fleet.newLeader(epoch, killedAt);
        expect((await fleet.waitHandled(runId, count, 60_000, 15_000)).lost).toBe(0);
        const figures: string[] = [];
        for (const key of keys) {
          // Appended in order, one per token; without a concurrency limit two workers may start them
          // in a slightly different order, so only the set and the span are checked.
          const times = starts(fleet, key).map(([, ms]) => ms);
          expect(new Set(startOrder(fleet, key))).toEqual(new Set(range(perKey)));
          // A full bucket (the burst) goes at once, then one per 1/rate s. Measured from the 20th start
          // (past the burst and the first second's load of unkeyed messages) to the kill, and to the
          // last one (a new leader continues the same bucket, so the failover can only slow it).
          const rateOf = (span: number[]) =>
            ((span.length - 1) * 1000) / (Math.max(...span) - Math.min(...span));
          const sorted = times.sort((a, b) => a - b).slice(2 * burst - 1);
          const steady = rateOf(sorted.filter((ms) => ms < killedAtMs));
          const overall = rateOf(sorted);
          figures.push(
            `${key} ${steady.toFixed(2)} before the kill, ${overall.toFixed(2)} from the 20th to the last`,
          );
          expect(steady).toBeLessThanOrEqual(rate * 1.05);
          expect(steady).toBeGreaterThan(rate * 0.8);
          expect(overall).toBeLessThanOrEqual(rate * 1.05);
        }
        console.log(
          `key rate (limit ${rate}/s per key, burst ${burst}, ${perKey} each, a leader SIGKILL mid-run): ${figures.join('; ')} msg/s`,
        );
      },
    );
  }, 180_000);

  it('limits turned off: messages still held are drained by the next leader, none waits forever', async () => {
    // Concurrency 1 and a token every 50 s: the first message goes out, the others are held; its settle
    // cannot let the next out (no token), and only a leader with a per-key rate would release it.
    const env = {
      REDISPATCH_KEY_CONCURRENCY: '1',
      REDISPATCH_KEY_RATE_LIMIT: '0.02',
      REDISPATCH_KEY_RATE_BURST: '1',
    };
    await FaultCluster.run({ name: 'keyoff', ...on(), dispatchers: 2, workers: 1, env }, async (fleet) => {
      const runId = 'keyoff';
      const items = keyedMessages(runId, ['held'], 4);
      await publish(fleet, items);
      await expect.poll(() => starts(fleet, 'held').length, { timeout: 20_000 }).toBe(1);
      // stats: the three held messages are in the backlog, their key is waiting (as in lists mode).
      await expect
        .poll(
          async () => {
            const { inflight, backlog, keysWaiting } = await fleet.stats();
            return { inflight, backlog, keysWaiting };
          },
          { timeout: 20_000 },
        )
        .toEqual({ inflight: 0, backlog: 3, keysWaiting: 1 });
      for (const proc of [...fleet.dispatchers.values()]) {
        proc.kill('SIGKILL');
        await proc.exited();
      }
      const off = { REDISPATCH_KEY_CONCURRENCY: '0', REDISPATCH_KEY_RATE_LIMIT: '0' };
      fleet.startDispatcher(off);
      fleet.startDispatcher(off);
      const result = await fleet.waitHandled(runId, items.length, 60_000, 20_000);
      expect(result.lost, fleet.missingRanges(runId, items.length)).toBe(0);
      expect(startOrder(fleet, 'held')).toEqual(range(items.length));
      const after = await fleet.waitIdle(20_000);
      expect(after.keysWaiting).toBeUndefined();
    });
  }, 120_000);
});
