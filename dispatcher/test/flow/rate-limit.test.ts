// Flow control (issue 19): the cluster-wide rate limit (REDISPATCH_RATE_LIMIT) with real processes in
// both modes — published ten times faster than the limit, across a leader SIGKILL, nothing lost.
// Bounds here are the safety side (never above the limit) and a generous floor; the measured accuracy
// is printed (docs/flow-control.md quotes it with the command).
import { performance } from 'node:perf_hooks';
import {
  type RedisClusterHandle,
  type RedisHandle,
  startRedis,
  startRedisCluster,
} from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, killEverything, sleep } from '../helpers/fault-cluster.js';

let server: RedisHandle;
let redisCluster: RedisClusterHandle;
beforeAll(async () => {
  server = await startRedis();
  redisCluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(async () => {
  await killEverything();
  await server?.stop();
  await redisCluster?.stop();
});

const LIMIT = 500;
/** The bucket (the default: one second of the limit), so a leader's hiccup under load loses no rate. */
const BURST = 500;

const modes = [
  { mode: 'lists', on: () => ({ redisUrl: server.url }) },
  {
    mode: 'streams',
    on: () => ({ redisUrl: redisCluster.nodes[0]?.url ?? '', clusterSeeds: redisCluster.seeds }),
  },
] as const;

/** Messages per second handled over `ms`, from the checker's record. */
async function handledRate(fleet: FaultCluster, runId: string, count: number, ms: number): Promise<number> {
  const before = fleet.check(runId, count).handled;
  const started = performance.now();
  await sleep(ms);
  const after = fleet.check(runId, count).handled;
  return ((after - before) * 1000) / (performance.now() - started);
}

describe.each(modes)('rate limit ($mode mode)', ({ mode, on }) => {
  it(`${LIMIT} msg/s while 15,000 are published at 5,000 msg/s: never above the limit, across a leader SIGKILL, 0 lost`, async () => {
    const env = { REDISPATCH_RATE_LIMIT: String(LIMIT), REDISPATCH_RATE_BURST: String(BURST) };
    await FaultCluster.run(
      { name: `rate-${mode}`, ...on(), dispatchers: 3, workers: 2, env },
      async (fleet) => {
        const count = 15_000;
        const runId = `rate-${mode}`;
        const publishing = fleet.publish(runId, count, 5_000);
        await expect
          .poll(() => fleet.check(runId, count).handled, { timeout: 20_000 })
          .toBeGreaterThan(BURST);
        const steady = await handledRate(fleet, runId, count, 10_000);
        expect((await publishing).code).toBe(0);
        const { proc, epoch } = await fleet.leader();
        const killedAt = performance.now();
        proc.kill('SIGKILL');
        await fleet.newLeader(epoch, killedAt);
        // The new leader continues the same bucket: at most the burst it refilled to, then the limit.
        const afterKill = await handledRate(fleet, runId, count, 5_000);
        console.log(
          `rate ${mode}: steady ${steady.toFixed(1)} msg/s over 10 s; after the kill ${afterKill.toFixed(1)} msg/s over 5 s (limit ${LIMIT})`,
        );
        // Above the limit by at most what the bucket held when the window opened (drained: ~0).
        expect(steady).toBeLessThanOrEqual(LIMIT * 1.05 + BURST / 10);
        expect(steady).toBeGreaterThan(LIMIT * 0.5);
        expect(afterKill).toBeLessThanOrEqual(LIMIT * 1.05 + BURST / 5);
        expect(afterKill).toBeGreaterThan(LIMIT * 0.5);
        const result = await fleet.waitHandled(runId, count, 90_000);
        expect(result.lost).toBe(0);
        expect(FaultCluster.inventory(await fleet.waitIdle(30_000)).missing).toBe(0);
      },
    );
  }, 200_000);
});
