// docs/guarantees.md, 8 (pub/sub output buffers), at Redis's default limit: a subscriber that falls
// behind by more than `client-output-buffer-limit pubsub 32mb 8mb 60` is disconnected by Redis and
// loses what was buffered. Shown here on the leader (frozen with SIGSTOP while 40 MB are published):
// Redis drops its subscription, the leader notices on waking and steps down with reason ingress_lost
// (counted: redispatch_stepdowns_total{reason="ingress_lost"}), and a standby that heard everything
// takes over and replays the gap, so nothing is lost. Real processes and a real redis-server.
import { performance } from 'node:perf_hooks';
import { freePort, type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, killEverything, logLines } from './helpers/fault-cluster.js';
import { sampleValue, scrape } from './helpers/metrics-probe.js';
import { describeTakeovers, failoverDuplicateBound } from './helpers/takeovers.js';

let server: RedisHandle;
beforeAll(async () => {
  // The harness raises the limit for load tests; this test puts Redis's default back.
  server = await startRedisProcess({ args: ['--client-output-buffer-limit', 'pubsub', '32mb', '8mb', '60'] });
});
afterAll(async () => {
  await killEverything();
  await server?.stop();
});

const COUNT = 4_000;
const BODY_BYTES = 10 * 1024; // 4,000 x 10 KB = 40 MB, past the 32 MB hard limit

describe('pub/sub output buffer limit (Redis default 32mb 8mb 60)', () => {
  it('disconnects a subscriber that fell 40 MB behind; the leader steps down (ingress_lost, counted) and a standby replays the gap: 0 lost', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const options = {
      name: 'obuf',
      redisUrl: server.url,
      dispatchers: 3,
      workers: 2,
      // Long enough that the frozen leader keeps its lease: only the dropped subscription ends its term.
      env: { REDISPATCH_LEASE_MS: '20000', REDISPATCH_STANDBY_BUFFER_AGE_MS: '60000' },
      dispatcherEnv: (index: number) => ({ REDISPATCH_METRICS_PORT: String(ports[index]) }),
    };
    await FaultCluster.run(options, async (cluster) => {
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      const { proc: leader, epoch } = await cluster.leader();
      const leaderPort = ports[cluster.dispatcherIndex.get(leader.pid) ?? -1] as number;
      expect(Number((await cluster.admin.pubsub('NUMSUB', channel))[1])).toBe(3);

      leader.kill('SIGSTOP');
      try {
        const padding = 'x'.repeat(BODY_BYTES);
        for (let seq = 0; seq < COUNT; seq += 100) {
          const pipeline = cluster.admin.pipeline();
          for (let i = seq; i < seq + 100; i++) pipeline.publish(channel, `obuf:${i}:${padding}`);
          await pipeline.exec();
        }
        // Redis closed the frozen leader's subscription (over the hard limit), not the standbys'.
        await expect
          .poll(async () => Number((await cluster.admin.pubsub('NUMSUB', channel))[1]), { timeout: 10_000 })
          .toBe(2);
        // The leader is frozen, its lease still valid: nobody has taken over yet.
        expect((await cluster.stats()).leader?.epoch).toBe(epoch);
      } finally {
        leader.kill('SIGCONT');
      }
      const wokeAt = performance.now();
      await leader.waitForLog(/"msg":"stepped down"/, 20_000);
      const stepDown = logLines(leader).find((l) => l.msg === 'stepped down');
      expect(stepDown?.reason).toBe('ingress_lost');
      // Counted where an operator looks.
      const { families } = await scrape(leaderPort);
      expect(sampleValue(families, 'redispatch_stepdowns_total', { reason: 'ingress_lost' })).toBe(1);
      const next = await cluster.newLeader(epoch, wokeAt, 20_000);
      expect(next.proc.pid).not.toBe(leader.pid);

      const result = await cluster.waitHandled('obuf', COUNT, 60_000);
      const takeovers = cluster.elections();
      expect(result.lost, cluster.missingRanges('obuf', COUNT)).toBe(0);
      expect(result.duplicates, describeTakeovers(takeovers)).toBeLessThanOrEqual(
        failoverDuplicateBound(takeovers),
      );
    });
  }, 120_000);
});
