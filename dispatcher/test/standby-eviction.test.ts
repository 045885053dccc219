// Guarantee 6 (standby buffers are bounded by count and age), the age bound: a dispatcher drops what it
// buffered once it is older than REDISPATCH_STANDBY_BUFFER_AGE_MS, counts it, and drops nothing sooner.
// Real processes: two dispatchers (lists mode, Redis pub/sub) whose lease lives on a separate lock
// master, and a checker worker. The lock master is frozen (SIGSTOP): the leader cannot renew and steps
// down, and nobody can take over, so every dispatcher only buffers — until the age limit evicts it all.
// What was evicted cannot be replayed by the leader elected once the lock master is back: lost, and
// counted exactly (docs/guarantees.md: buffers are bounded, a longer outage loses what they dropped).
import { performance } from 'node:perf_hooks';
import { freePort, type RedisHandle, startRedis, startRedisProcess } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, killEverything } from './helpers/fault-cluster.js';
import { sampleValue, scrape } from './helpers/metrics-probe.js';

let server: RedisHandle;
let lock: RedisHandle;
beforeAll(async () => {
  [server, lock] = await Promise.all([startRedis(), startRedisProcess()]);
});
afterAll(async () => {
  await killEverything();
  lock?.signal('SIGCONT');
  await Promise.all([server?.stop(), lock?.stop()]);
});

const LEASE_MS = 1_000;
/** The smallest age the settings allow (3 leases). */
const AGE_MS = 3 * LEASE_MS;
const COUNT = 50;

describe('standby buffer age eviction', () => {
  it('evicts what every dispatcher buffered once older than the age limit, counts each one, evicts nothing younger; evicted means not replayed', async () => {
    const ports = [await freePort(), await freePort()];
    const options = {
      name: 'evict-age',
      redisUrl: server.url,
      dispatchers: 2,
      workers: 1,
      env: {
        REDISPATCH_LOCK_URLS: lock.url,
        REDISPATCH_LEASE_MS: String(LEASE_MS),
        REDISPATCH_STANDBY_BUFFER_AGE_MS: String(AGE_MS),
      },
      dispatcherEnv: (index: number) => ({ REDISPATCH_METRICS_PORT: String(ports[index]) }),
    };
    await FaultCluster.run(options, async (cluster) => {
      const { proc: leader, epoch } = await cluster.leader();
      const gauges = async (port: number) => {
        const { families } = await scrape(port);
        return {
          buffered: sampleValue(families, 'redispatch_standby_buffer_messages') ?? -1,
          evicted: sampleValue(families, 'redispatch_standby_buffer_evicted_total') ?? -1,
        };
      };
      const both = () => Promise.all(ports.map(gauges));
      expect((await both()).map((g) => g.evicted)).toEqual([0, 0]);

      lock.signal('SIGSTOP');
      try {
        await leader.waitForLog(/"msg":"stepped down"/, 15_000);
        const channel = cluster.env.REDISPATCH_CHANNEL as string;
        for (let seq = 0; seq < COUNT; seq++) await cluster.admin.publish(channel, `evict:${seq}:x`);
        const publishedAt = performance.now();
        // Buffered by both, and nothing evicted before its age (an ordering: a read that came late on a
        // busy box may find them evicted, but never before AGE_MS had passed).
        await expect
          .poll(async () => (await both()).map((g) => g.buffered + g.evicted), { timeout: 5_000 })
          .toEqual([COUNT, COUNT]);
        const early = await both();
        if (early.some((g) => g.evicted > 0))
          expect(performance.now() - publishedAt).toBeGreaterThanOrEqual(AGE_MS);
        // Past the age: every one evicted and counted, by each dispatcher, the buffers empty.
        await expect.poll(both, { timeout: AGE_MS + 15_000, interval: 200 }).toEqual([
          { buffered: 0, evicted: COUNT },
          { buffered: 0, evicted: COUNT },
        ]);
        expect(performance.now() - publishedAt).toBeGreaterThanOrEqual(AGE_MS);
        expect((await cluster.stats()).epoch).toBe(epoch);
      } finally {
        lock.signal('SIGCONT');
      }
      // The lock master is back: a leader is elected and routes again, but has nothing left to replay.
      await cluster.newLeader(epoch, performance.now(), 20_000);
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      for (let seq = 0; seq < 20; seq++) await cluster.admin.publish(channel, `after:${seq}:x`);
      expect((await cluster.waitHandled('after', 20)).lost).toBe(0);
      // Exactly the evicted ones are gone: none of them was written, none handled.
      expect(cluster.check('evict', COUNT).handled).toBe(0);
    });
  }, 90_000);
});
