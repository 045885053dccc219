// Flow control (issue 19): `redispatch pause` / `resume` with real processes in both modes — CLI
// dispatchers (one leads), checker workers, `redispatch publish`, the leader SIGKILLed while paused.
import { performance } from 'node:perf_hooks';
import {
  type RedisClusterHandle,
  type RedisHandle,
  startRedis,
  startRedisCluster,
} from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
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

/** `redispatch pause|resume --json` as a real process; its reply parsed. */
async function flowCommand(fleet: FaultCluster, verb: 'pause' | 'resume') {
  const run = await runCli([verb, '--json', '--wait', '10000'], fleet.env);
  expect(run.code, run.output).toBe(0);
  return JSON.parse(run.lines.at(-1) ?? '{}') as {
    applied: boolean;
    state: string;
    requested: string;
    appliedEpoch: number;
  };
}

async function statsPaused(fleet: FaultCluster): Promise<boolean> {
  const run = await runCli(['stats', '--json'], fleet.env);
  expect(run.code, run.output).toBe(0);
  return (JSON.parse(run.output) as { paused: boolean }).paused;
}

const modes = [
  { mode: 'lists', on: () => ({ redisUrl: server.url }) },
  {
    mode: 'streams',
    on: () => ({ redisUrl: redisCluster.nodes[0]?.url ?? '', clusterSeeds: redisCluster.seeds }),
  },
] as const;

describe.each(modes)('pause and resume ($mode mode)', ({ mode, on }) => {
  it('paused: 0 handled, also after a leader SIGKILL; resume drains every message, 0 lost', async () => {
    await FaultCluster.run({ name: `pause-${mode}`, ...on(), dispatchers: 3, workers: 2 }, async (fleet) => {
      expect(await statsPaused(fleet)).toBe(false);
      const first = await fleet.leader();
      const paused = await flowCommand(fleet, 'pause');
      expect(paused).toMatchObject({ applied: true, state: 'paused', appliedEpoch: first.epoch });
      expect(await statsPaused(fleet)).toBe(true);

      const count = 1_500;
      const runId = `pause-${mode}`;
      const publishing = fleet.publish(runId, count, 1_000);
      await fleet.waitAccepted(count / 2);
      // Failover while paused: the new leader applies the pause before its first write.
      const killedAt = performance.now();
      first.proc.kill('SIGKILL');
      const next = await fleet.newLeader(first.epoch, killedAt);
      expect((await publishing).code).toBe(0);
      // Delayed messages whose time comes while paused are not handed out either.
      const delayedId = `pause-delayed-${mode}`;
      const delayedCount = 50;
      const delayedRun = await runCli(
        [
          'publish',
          '--count',
          String(delayedCount),
          '--delay',
          '300',
          '--run-id',
          delayedId,
          '--no-timestamp',
        ],
        fleet.env,
      );
      expect(delayedRun.code, delayedRun.output).toBe(0);
      await fleet.waitAccepted(count + delayedCount);
      await sleep(1_500);
      expect(fleet.check(runId, count).handled).toBe(0);
      expect(fleet.check(delayedId, delayedCount).handled).toBe(0);
      const held = await fleet.stats();
      // Everything accepted waits for routing (lists: the backlog; streams: parked in the delayed set).
      expect(held.inflight).toBe(0);
      expect(held.backlog + held.delayed).toBeGreaterThanOrEqual(count + delayedCount);
      expect(await statsPaused(fleet)).toBe(true);

      const resumed = await flowCommand(fleet, 'resume');
      expect(resumed).toMatchObject({ applied: true, state: 'running', appliedEpoch: next.epoch });
      expect(await statsPaused(fleet)).toBe(false);
      const result = await fleet.waitHandled(runId, count, 60_000);
      expect(result.lost).toBe(0);
      expect((await fleet.waitHandled(delayedId, delayedCount, 30_000)).lost).toBe(0);
      const idle = FaultCluster.inventory(await fleet.waitIdle());
      expect(idle.missing).toBe(0);
    });
  }, 120_000);

  it('a pause requested while no dispatcher runs is applied by the next leader before it routes', async () => {
    await FaultCluster.run(
      { name: `pause-nl-${mode}`, ...on(), dispatchers: 1, workers: 1 },
      async (fleet) => {
        const only = await fleet.leader();
        only.proc.kill('SIGKILL');
        await only.proc.exited();
        const request = await flowCommand(fleet, 'pause').catch(() => undefined);
        // No dispatcher: requested, not applied within the wait (the wait is 10 s; nobody leads).
        expect(request).toMatchObject({ applied: false, requested: 'paused' });
        const fresh = fleet.startDispatcher();
        await fresh.waitForLog(/"msg":"elected leader"/, 20_000);
        const count = 300;
        const runId = `pause-nl-${mode}`;
        expect((await fleet.publish(runId, count, 1_000)).code).toBe(0);
        await fleet.waitAccepted(count);
        await sleep(1_000);
        expect(fleet.check(runId, count).handled).toBe(0);
        expect((await flowCommand(fleet, 'resume')).applied).toBe(true);
        expect((await fleet.waitHandled(runId, count, 30_000)).lost).toBe(0);
      },
    );
  }, 90_000);
});
