import { createConnection, createKeys, readStats } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/shared/testing';
import type { Message } from '@redispatch/worker';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadPayload, publishLoad } from '../src/cli/command-publish.js';
import { seqOf, summarize } from './helpers/checker.js';
import { type Fleet, fleet, testConfig, uniquePrefix } from './helpers/in-process.js';

let server: RedisHandle;
let admin: Redis;
let current: Fleet | undefined;

beforeAll(async () => {
  server = await startRedis();
  admin = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'admin',
  });
  await admin.connect();
});
afterEach(async () => {
  await current?.close();
  current = undefined;
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

function setup(name: string, extra: Record<string, string> = {}) {
  const prefix = uniquePrefix(name);
  const config = testConfig(server.url, prefix, extra);
  current = fleet(config);
  return { config, keys: createKeys(prefix), f: current };
}

/** Records which worker handled which sequence number of `runId`. */
function recorder(runId: string) {
  const seen = new Map<number, number>();
  const byWorker = new Map<string, number>();
  const handler = (workerName: string) => async (msg: Message) => {
    const seq = seqOf(msg.body, runId);
    if (seq === undefined) return;
    seen.set(seq, (seen.get(seq) ?? 0) + 1);
    byWorker.set(workerName, (byWorker.get(workerName) ?? 0) + 1);
  };
  return { seen, byWorker, handler };
}

async function waitForLeader(f: Fleet) {
  await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
}

async function waitForSubscriber(channel: string) {
  await expect
    .poll(async () => Number(((await admin.pubsub('NUMSUB', channel)) as [string, number])[1]), {
      timeout: 10_000,
    })
    .toBeGreaterThan(0);
}

describe('lists mode routing (in-process dispatchers and workers, real Redis)', () => {
  it('elects exactly one leader among three dispatchers', async () => {
    const { f, keys } = setup('elect');
    await Promise.all([f.startDispatcher(), f.startDispatcher(), f.startDispatcher()]);
    await waitForLeader(f);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(f.dispatchers.filter((d) => d.state === 'leading')).toHaveLength(1);
    expect(f.dispatchers.filter((d) => d.state === 'standby')).toHaveLength(2);
    const stats = await readStats(admin, keys, 'elect');
    expect(stats.leader?.id).toBe(f.leader()?.id);
    expect(stats.leader?.epoch).toBe(f.leader()?.epoch);
  });

  it('spreads messages round-robin: every worker within 5% of the mean', async () => {
    const { f, config } = setup('fair');
    const runId = 'fair';
    const rec = recorder(runId);
    await f.startDispatcher();
    for (const name of ['a', 'b', 'c']) await f.startWorker(rec.handler(name), { id: name });
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    // Let the leader's reaper see all three workers before publishing.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const count = 3_000;
    await publishLoad(admin, config.channel, { count, rate: 0, size: 50, runId });
    await expect.poll(() => summarize(rec.seen, count).lost, { timeout: 20_000 }).toBe(0);
    const mean = count / 3;
    for (const name of ['a', 'b', 'c']) {
      const share = rec.byWorker.get(name) ?? 0;
      expect(Math.abs(share - mean) / mean, `worker ${name} handled ${share}`).toBeLessThanOrEqual(0.05);
    }
  });

  it('applies backpressure: a full worker is skipped, overflow waits in the backlog, nothing is dropped', async () => {
    const { f, config, keys } = setup('backpressure', { REDISPATCH_QUEUE_HIGH_WATER: '5' });
    const runId = 'bp';
    const rec = recorder(runId);
    await f.startDispatcher();
    const slow = async (msg: Message) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await rec.handler('slow')(msg);
    };
    await f.startWorker(slow, { id: 'slow', concurrency: 1 });
    await f.startWorker(rec.handler('fast'), { id: 'fast', concurrency: 4 });
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    await new Promise((resolve) => setTimeout(resolve, 300));
    let maxBacklog = 0;
    let maxSlowQueue = 0;
    const sampler = setInterval(() => {
      void readStats(admin, keys, 'backpressure').then((stats) => {
        maxBacklog = Math.max(maxBacklog, stats.backlog);
        const slowStats = stats.workers.find((w) => w.id === 'slow');
        maxSlowQueue = Math.max(maxSlowQueue, slowStats?.queued ?? 0);
      });
    }, 20);
    const count = 1_000;
    await publishLoad(admin, config.channel, { count, rate: 0, size: 20, runId });
    await expect.poll(() => summarize(rec.seen, count).lost, { timeout: 30_000 }).toBe(0);
    clearInterval(sampler);
    expect(maxBacklog).toBeGreaterThan(0);
    expect(maxSlowQueue).toBeLessThanOrEqual(5);
    expect(rec.byWorker.get('fast') ?? 0).toBeGreaterThan(rec.byWorker.get('slow') ?? 0);
    expect(summarize(rec.seen, count).duplicates).toBe(0);
  });

  it('retries a failing message with growing backoff, then dead-letters it with the error text', async () => {
    const { f, config, keys } = setup('retry', { REDISPATCH_MAX_ATTEMPTS: '4' });
    const attempts: { attempt: number; at: number }[] = [];
    await f.startDispatcher();
    await f.startWorker(async (msg) => {
      attempts.push({ attempt: msg.attempt, at: performance.now() });
      throw new Error(`refused attempt ${msg.attempt}`);
    });
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.publish(config.channel, 'poison');
    await expect.poll(async () => admin.zcard(keys.dlq), { timeout: 15_000 }).toBe(1);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
    // Backoff base 50 ms doubling, jittered into [ceiling/2, ceiling]: retry k waits at least 25·2^(k-1) ms
    // (the reaper's promotion adds up to one reap interval on top, so only lower bounds are exact).
    const gaps = attempts.slice(1).map((a, i) => a.at - (attempts[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(20);
    expect(gaps[1]).toBeGreaterThanOrEqual(45);
    expect(gaps[2]).toBeGreaterThanOrEqual(95);
    const [id] = await admin.zrange(keys.dlq, 0, -1);
    expect(await admin.hget(keys.errors, id ?? '')).toBe('Error: refused attempt 4 (attempt 4 of 4)');
    const stats = await readStats(admin, keys, 'retry');
    expect(stats.deadLetters).toBe(1);
    expect(stats.totals.deadLettered).toBe(1);
    expect(stats.inflight + stats.delayed + stats.backlog).toBe(0);
  });

  it('redelivers a message whose handler hangs past the ack timeout to another worker', async () => {
    const { f, config } = setup('hang', { REDISPATCH_ACK_TIMEOUT_MS: '700' });
    const handledBy: string[] = [];
    await f.startDispatcher();
    await f.startWorker(
      async (msg) => {
        handledBy.push(`hanger:${msg.attempt}`);
        await new Promise(() => {});
      },
      { id: 'hanger' },
    );
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.publish(config.channel, 'slow-one');
    await expect.poll(() => handledBy.length, { timeout: 5_000 }).toBe(1);
    await f.startWorker(
      async (msg) => {
        handledBy.push(`rescuer:${msg.attempt}`);
      },
      { id: 'rescuer' },
    );
    // Hanger's claim expires after 700 ms; the reaper redelivers (attempt 2) round-robin to either worker.
    await expect.poll(() => handledBy.some((h) => h.startsWith('rescuer:')), { timeout: 15_000 }).toBe(true);
    expect(handledBy[0]).toBe('hanger:1');
    expect(handledBy.find((h) => h.startsWith('rescuer:'))).toMatch(/rescuer:[2-9]/);
  });

  it('drains a worker gracefully: in-flight work finishes and is acked, its queue goes to another worker', async () => {
    const { f, config, keys } = setup('drain', { REDISPATCH_QUEUE_HIGH_WATER: '1000' });
    const runId = 'drain';
    const rec = recorder(runId);
    await f.startDispatcher();
    const drainer = await f.startWorker(
      async (msg) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        await rec.handler('drainer')(msg);
      },
      { id: 'drainer', concurrency: 2 },
    );
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const count = 20;
    await publishLoad(admin, config.channel, { count, rate: 0, size: 20, runId });
    await expect
      .poll(async () => (await readStats(admin, keys, 'drain')).inflight, { timeout: 5_000 })
      .toBe(2);
    await f.startWorker(rec.handler('other'), { id: 'other' });
    await drainer.close();
    expect(drainer.state).toBe('stopped');
    // The two in flight finished on the drainer and were acked, not redelivered.
    expect(rec.byWorker.get('drainer')).toBeGreaterThanOrEqual(2);
    await expect.poll(() => summarize(rec.seen, count).lost, { timeout: 10_000 }).toBe(0);
    const result = summarize(rec.seen, count);
    expect(result.duplicates).toBe(0);
    const stats = await readStats(admin, keys, 'drain');
    expect(stats.totals.redelivered).toBe(0);
    expect(stats.workers.map((w) => w.id)).toEqual(['other']);
  });

  it('never runs more handlers than --concurrency, even with prefetched messages waiting', async () => {
    const { f, config } = setup('prefetch');
    const runId = 'pf';
    const rec = recorder(runId);
    let running = 0;
    let maxRunning = 0;
    await f.startDispatcher();
    await f.startWorker(
      async (msg) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 10));
        running -= 1;
        await rec.handler('w')(msg);
      },
      { concurrency: 2, prefetch: 6 },
    );
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await publishLoad(admin, config.channel, { count: 100, rate: 0, size: 20, runId });
    await expect.poll(() => summarize(rec.seen, 100).lost, { timeout: 10_000 }).toBe(0);
    expect(maxRunning).toBe(2);
    expect(summarize(rec.seen, 100).duplicates).toBe(0);
  });

  it('dead-letters oversize payloads with the reason and routes the rest of the batch', async () => {
    const { f, config, keys } = setup('oversize', { REDISPATCH_MAX_PAYLOAD_BYTES: '64' });
    const runId = 'ovr';
    const rec = recorder(runId);
    await f.startDispatcher();
    await f.startWorker(rec.handler('w'));
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    const pipeline = admin.pipeline();
    pipeline.publish(config.channel, loadPayload(runId, 0, 10));
    pipeline.publish(config.channel, loadPayload(runId, 1, 100));
    pipeline.publish(config.channel, loadPayload(runId, 2, 10));
    await pipeline.exec();
    await expect.poll(() => rec.seen.size, { timeout: 5_000 }).toBe(2);
    await expect.poll(() => admin.zcard(keys.dlq), { timeout: 5_000 }).toBe(1);
    const [id] = await admin.zrange(keys.dlq, 0, -1);
    expect(await admin.hget(keys.errors, id ?? '')).toMatch(
      /^oversize: 100 bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=64/,
    );
  });

  it('keeps accepted messages in the backlog while no worker is live, and delivers them when one registers', async () => {
    const { f, config, keys } = setup('noworker');
    const runId = 'nw';
    const rec = recorder(runId);
    await f.startDispatcher();
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    await publishLoad(admin, config.channel, { count: 50, rate: 0, size: 20, runId });
    await expect.poll(() => admin.llen(keys.backlog), { timeout: 5_000 }).toBe(50);
    await f.startWorker(rec.handler('late'));
    await expect.poll(() => summarize(rec.seen, 50).lost, { timeout: 10_000 }).toBe(0);
  });

  it('fences a leader whose epoch was superseded: it steps down at once and writes nothing', async () => {
    const { f, config, keys } = setup('fence');
    const d = await f.startDispatcher();
    await waitForLeader(f);
    await waitForSubscriber(config.channel);
    // Another leader took over behind this one's back (e.g. after a pause past the lease).
    await admin.incr(keys.epoch);
    await admin.publish(config.channel, 'after-fence');
    await expect.poll(() => d.state, { timeout: 5_000 }).toBe('standby');
    expect(await admin.hlen(keys.body)).toBe(0);
  });
});
