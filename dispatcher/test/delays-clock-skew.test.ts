import { performance } from 'node:perf_hooks';
import { Publisher } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FaultCluster, faketimeLibrary, killEverything, logLines, sleep } from './helpers/fault-cluster.js';

// Lists mode: a relative delay becomes a due time inside the batch script (Redis's clock), and the
// leader's reaper promotes by that clock too. With libfaketime the leading dispatcher runs an hour
// slow, then (after a handover) an hour fast, and the workers go opposite ways: a due time taken from
// a process clock would deliver at once (slow) or an hour late (fast). Early or late is judged on this
// process's clock, which is the Redis host's.
let server: RedisHandle;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await killEverything();
  await server.stop();
});

const library = faketimeLibrary();
const skewEnv = (skew: string): Record<string, string> =>
  library ? { LD_PRELOAD: library, FAKETIME: skew, FAKETIME_DONT_FAKE_MONOTONIC: '1' } : {};
const hoursOff = (proc: Parameters<typeof logLines>[0]) =>
  Math.round((Number(logLines(proc)[0]?.time) - Date.now()) / 3_600_000);

/** Publishes `count` messages delayed `delayMs`; returns when each was first seen handled (this clock). */
async function delayedRun(cluster: FaultCluster, runId: string, count: number, delayMs: number) {
  const publisher = new Publisher({
    redis: cluster.admin,
    channel: cluster.env.REDISPATCH_CHANNEL as string,
  });
  const firstSeen = new Map<number, number>();
  // Accepted (and its delay started, on Redis's clock) no sooner than this.
  const sentAfter = performance.now();
  await publisher.publishBatch(
    Array.from({ length: count }, (_, seq) => ({ body: `${runId}:${seq}:x`, options: { delayMs } })),
  );
  const deadline = performance.now() + delayMs + 20_000;
  while (performance.now() < deadline) {
    const handled = cluster.check(runId, count).handled;
    while (firstSeen.size < handled) firstSeen.set(firstSeen.size, performance.now());
    if (handled >= count) break;
    await sleep(25);
  }
  const times = [...firstSeen.values()].map((at) => Math.round(at - sentAfter));
  return {
    result: cluster.check(runId, count),
    earliestMs: Math.min(...times),
    latestMs: Math.max(...times),
  };
}

it('delays are due by the Redis clock: a leader an hour slow or fast delivers none early and loses none', async () => {
  expect(library, 'libfaketime is needed to skew the clocks').toBeDefined();
  const skews = ['-1h', '+1h'];
  await FaultCluster.run(
    {
      name: 'delay-skew',
      redisUrl: server.url,
      dispatchers: 1,
      workers: 2,
      dispatcherEnv: (index) => skewEnv(skews[index % 2] as string),
      workerEnv: (index) => skewEnv(skews[(index + 1) % 2] as string),
    },
    async (cluster) => {
      const delayMs = 4_000;
      const count = 100;
      const slow = await cluster.leader();
      expect(hoursOff(slow.proc)).toBe(-1);
      const first = await delayedRun(cluster, 'slow', count, delayMs);

      // Hand over to a dispatcher an hour fast; the same again.
      const fast = cluster.startDispatcher();
      await fast.waitForLog(/"msg":"standby"/, 20_000);
      slow.proc.kill('SIGTERM');
      await cluster.newLeader(slow.epoch, performance.now());
      expect(hoursOff(fast)).toBe(1);
      const second = await delayedRun(cluster, 'fast', count, delayMs);

      console.info(
        `delays under skew (delay ${delayMs} ms, handled after publish): leader -1 h: ${first.earliestMs}..${first.latestMs} ms; ` +
          `leader +1 h: ${second.earliestMs}..${second.latestMs} ms; workers ${cluster.allWorkers.map(hoursOff).join('/')} h`,
      );
      for (const { result, earliestMs } of [first, second]) {
        expect(result.lost).toBe(0);
        expect(result.duplicates).toBe(0);
        expect(earliestMs).toBeGreaterThanOrEqual(delayMs);
      }
    },
  );
}, 120_000);
