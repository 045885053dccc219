import { createConnection, createKeys, loadPartitions, readStreamStats } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishLoad } from '../src/cli/command-publish.js';
import { seqOf, summarize } from './helpers/checker.js';
import { fleet, testConfig, uniquePrefix } from './helpers/in-process.js';

// Streams mode without a cluster (REDISPATCH_CLUSTER_NODES unset): the development setup.
let server: RedisHandle;
let admin: Redis;
beforeAll(async () => {
  server = await startRedis();
  admin = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'a',
  });
  await admin.connect();
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

describe('streams mode on a single Redis', () => {
  it('routes through the partition streams of one server, and stats says where they live', async () => {
    const prefix = uniquePrefix('single');
    const config = testConfig(server.url, prefix, { REDISPATCH_MODE: 'streams', REDISPATCH_PARTITIONS: '3' });
    const f = fleet(config);
    try {
      const seen = new Map<number, number>();
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        const seq = seqOf(msg.body, 'single');
        if (seq !== undefined) seen.set(seq, (seen.get(seq) ?? 0) + 1);
      });
      await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await publishLoad(admin, config.channel, { count: 1_000, rate: 0, size: 40, runId: 'single' });
      await expect.poll(() => summarize(seen, 1_000).lost, { timeout: 15_000 }).toBe(0);
      expect(summarize(seen, 1_000).duplicates).toBe(0);
      const keys = createKeys(prefix);
      const partitions = await loadPartitions(admin, keys, prefix, 3);
      expect(partitions.map((p) => p.stream)).toEqual([
        `{${prefix}:0}:s`,
        `{${prefix}:1}:s`,
        `{${prefix}:2}:s`,
      ]);
      await expect
        .poll(async () => (await readStreamStats(admin, keys, prefix, partitions, 'workers')).totals.acked, {
          timeout: 5_000,
        })
        .toBe(1_000);
      const stats = await readStreamStats(admin, keys, prefix, partitions, 'workers');
      expect(stats.partitions?.map((p) => p.node)).toEqual(['', '', '']);
      expect(stats.partitions?.every((p) => p.length === 0 || p.pending === 0)).toBe(true);
    } finally {
      await f.close();
    }
  });
});
