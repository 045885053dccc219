import { createConnection, createKeys, readStats } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Message } from '@redispatch/worker';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishLoad } from '../src/cli/command-publish.js';
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

describe('lists-mode-only routing (in-process dispatchers and workers, real Redis); shared cases are in routing-lists.test.ts', () => {
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
});
