import { startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { runCli, spawnCli } from './helpers/cli-process.js';
import { rssMb } from './helpers/fault-cluster.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Issue 22 item 4: while every batch write fails (the data Redis out of memory still accepts PUBLISH),
// the leader does not pile what arrives into its heap: past REDISPATCH_LEADER_PENDING_BYTES it steps
// down (reason pending_full), and what it keeps as a standby is bounded by the replay buffer.
it('a failing batch write under load keeps the leader heap bounded: it steps down at its pending limit', async () => {
  const data = await startRedisProcess();
  const lock = await startRedisProcess();
  const admin = new Redis(data.url);
  const prefix = uniquePrefix('pending-bound');
  const env = {
    ...testEnv(data.url, prefix),
    REDISPATCH_LOCK_URLS: lock.url,
    REDISPATCH_LEADER_PENDING_BYTES: String(2 * 1024 * 1024),
    REDISPATCH_STANDBY_BUFFER_BYTES: String(4 * 1024 * 1024),
    REDISPATCH_MAX_PAYLOAD_BYTES: String(128 * 1024),
    REDISPATCH_LOG_LEVEL: 'info',
  };
  const dispatcher = spawnCli(['dispatcher'], env);
  try {
    await dispatcher.waitForLog(/"msg":"elected leader"/, 20_000);
    // Redis out of memory for writes: a 2 MB key, then maxmemory below what is used.
    await admin.set('filler', Buffer.alloc(2 * 1024 * 1024, 1));
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', String(1024 * 1024));
    await expect(admin.set('probe', 'x')).rejects.toThrow(/OOM/);
    const publish = async (count: number) => {
      const result = await runCli(
        ['publish', '--count', String(count), '--size', String(64 * 1024), '--rate', '400'],
        env,
        120_000,
      );
      expect(result.code, result.output).toBe(0);
    };
    // 32 MB published in 64 KB messages, far past the pending limit: its step-down, and the RSS the
    // process settles at (what it holds plus the garbage the collector keeps around).
    await publish(512);
    await dispatcher.waitForLog(/over the leader pending limit; stepping down/, 20_000);
    const rssPlateau = rssMb(dispatcher.pid);
    // 64 MB more: an unbounded leader would hold all of it; a bounded one stays near its plateau.
    await publish(1024);
    const rssAfter = rssMb(dispatcher.pid);

    const full = dispatcher
      .output()
      .split('\n')
      .filter((l) => l.includes('over the leader pending limit'))
      .map((l) => JSON.parse(l) as { bytes: number; count: number });
    // It stepped down as soon as it held one message over the limit, never later.
    for (const event of full) expect(event.bytes).toBeLessThanOrEqual(2 * 1024 * 1024 + 65 * 1024);
    expect(dispatcher.output()).toMatch(/"reason":"pending_full"/);
    expect(rssAfter - rssPlateau, `RSS ${rssPlateau} → ${rssAfter} MB`).toBeLessThan(32);
    console.log(
      `pending-bound: dispatcher RSS ${rssPlateau.toFixed(1)} MB after 32 MB published, ${rssAfter.toFixed(1)} MB after 64 MB more`,
    );
  } finally {
    dispatcher.kill('SIGKILL');
    admin.disconnect();
    await Promise.all([data.stop(), lock.stop()]);
  }
}, 180_000);
