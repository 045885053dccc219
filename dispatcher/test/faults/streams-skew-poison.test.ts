// Fault injection (issue 8) in streams mode on a real 3-master Redis Cluster, continued from
// streams.test.ts (leader and worker SIGKILL/SIGSTOP): clock skew, a poison message, and a burst far
// above the drain rate. The data-store faults are in streams-redis.test.ts.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { listStreamDeadLetters, loadPartitions } from '@redispatch/shared';
import { type RedisClusterHandle, startRedisCluster } from '@redispatch/testing';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBurst } from '../helpers/burst-probe.js';
import { type CliProcess, runCli } from '../helpers/cli-process.js';
import {
  FaultCluster,
  faketimeLibrary,
  faultSize,
  killEverything,
  logLines,
  sleep,
} from '../helpers/fault-cluster.js';
import { printFaultTable, recordFault, seconds } from '../helpers/fault-table.js';

const POISON_HANDLER = fileURLToPath(new URL('../helpers/poison-handler.mjs', import.meta.url));

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(async () => {
  await killEverything();
  await cluster?.stop();
  printFaultTable('streams');
});

/** Failure diagnosis: where the first missing seq of a range sits (stream, PEL, DLQ), per partition. */
async function _whereAre(fleet: FaultCluster, runId: string, ranges: string): Promise<string> {
  const first = /\d+/.exec(ranges)?.[0];
  const partitions = await loadPartitions(fleet.data, fleet.keys, fleet.prefix, 6);
  const out: string[] = [`looking for ${runId}:${first}: in ${ranges}`];
  for (const p of partitions) {
    const entries = (await fleet.data.xrange(p.stream, '-', '+')) as [string, string[]][];
    const hit = entries.find(([, f]) => f[f.indexOf('p') + 1]?.startsWith(`${runId}:${first}:`));
    const dead = (await fleet.data.xrange(p.dlq, '-', '+')) as [string, string[]][];
    const deadHit = dead.find(([, f]) => f.some((v) => v.startsWith(`${runId}:${first}:`)));
    const info = await fleet.data.xinfo('GROUPS', p.stream);
    out.push(
      `partition ${p.index}: len ${entries.length} hit ${hit?.[0]} dlq ${deadHit?.[0]} groups ${JSON.stringify(info)} applied ${await fleet.data.get(p.applied)} progress ${await fleet.data.get(p.progress)}`,
    );
  }
  return out.join('\n');
}
const on = () => ({ redisUrl: cluster.nodes[0]?.url ?? '', clusterSeeds: cluster.seeds });

describe('fault injection: streams mode on a Redis Cluster (clock skew, poison, slow consumer)', () => {
  it('7s. clock skew: processes an hour fast or slow; reclaim, delays and heartbeats on the server clock', async () => {
    const library = faketimeLibrary();
    const skews = ['+1h', '-1h', '+1h'];
    const skewEnv = (skew: string): Record<string, string> =>
      library ? { LD_PRELOAD: library, FAKETIME: skew, FAKETIME_DONT_FAKE_MONOTONIC: '1' } : {};
    const options = {
      name: 's7-skew',
      ...on(),
      workers: 3,
      concurrency: 8,
      // 3 x 8 slots / 50 ms = 480/s against 500/s published: every worker always holds a few entries.
      env: { CHECK_DELAY_MS: '50' },
      dispatcherEnv: (index: number) => skewEnv(skews[index % 3] as string),
      workerEnv: (index: number) => skewEnv(skews[index % 2] as string),
    };
    await FaultCluster.run(options, async (fleet) => {
      const count = faultSize(3_000, 1_500);
      const delayedCount = 200;
      const delayMs = 3_000;
      const publishing = fleet.publish('s7', count, 500);
      await fleet.waitAccepted(Math.floor(count / 3));
      // 200 messages at full speed: the publisher exits within milliseconds of its first PUBLISH, so
      // right after it exits none of them may have been handled (they are due 3 s after it).
      const delayed = await runCli(
        [
          'publish',
          '--count',
          String(delayedCount),
          '--rate',
          '0',
          '--run-id',
          's7d',
          '--delay',
          String(delayMs),
        ],
        fleet.env,
      );
      const delayedAt = performance.now();
      expect(delayed.code).toBe(0);
      const early = fleet.check('s7d', delayedCount).handled;
      const victim = [...fleet.workers.values()][0] as CliProcess;
      const victimId = `${fleet.prefix}-w0`;
      // Killed while it holds entries, so the reclaim path really runs under skew.
      await expect
        .poll(async () => (await fleet.stats()).workers.find((w) => w.id === victimId)?.inflight ?? 0, {
          timeout: 10_000,
          interval: 10,
        })
        .toBeGreaterThan(0);
      victim.kill('SIGKILL');
      const held = await fleet.heldBy(victimId);
      let heartbeatAgeMax = 0;
      let publishDone = false;
      void publishing.finally(() => {
        publishDone = true;
      });
      while (!publishDone) {
        const stats = await fleet.stats();
        heartbeatAgeMax = Math.max(
          heartbeatAgeMax,
          ...stats.workers.filter((w) => w.id !== victimId).map((w) => w.heartbeatAgeMs),
        );
        await sleep(100);
      }
      expect((await publishing).code).toBe(0);
      const result = await fleet.waitHandled('s7', count);
      const delayedResult = await fleet.waitHandled('s7d', delayedCount, 15_000);
      const delayedDoneMs = performance.now() - delayedAt;
      const stats = await fleet.waitIdle();
      const hoursOff = fleet.allWorkers.map((w) =>
        Math.round((Number(logLines(w)[0]?.time) - Date.now()) / 3_600_000),
      );
      const dispatcherHoursOff = fleet.allDispatchers.map((d) =>
        Math.round((Number(logLines(d)[0]?.time) - Date.now()) / 3_600_000),
      );
      recordFault({
        scenario: '7s. streams: clock skew ±1 h (libfaketime), worker SIGKILL midway',
        lost: result.lost + delayedResult.lost,
        duplicates: result.duplicates + delayedResult.duplicates,
        recover: `delayed messages (3 s on the server clock): ${early} handled early, all by ${seconds(delayedDoneMs)} after their publisher exited`,
        notes:
          `${library ? `skews: dispatchers ${dispatcherHoursOff.join('/')} h, workers ${hoursOff.join('/')} h` : 'NO libfaketime: server-clock checks only'}; ` +
          `killed worker held ${held}; reclaimed ${stats.totals.redelivered}; heartbeat age ≤ ${heartbeatAgeMax} ms`,
      });
      if (library) {
        expect(hoursOff).toEqual([1, -1, 1]);
        expect(dispatcherHoursOff).toEqual([1, -1, 1]);
      }
      expect(early).toBe(0);
      expect(result.lost).toBe(0);
      expect(delayedResult.lost).toBe(0);
      // Only the dead worker's entries were reclaimed, and only they can have run twice.
      expect(held).toBeGreaterThan(0);
      expect(stats.totals.redelivered).toBeLessThanOrEqual(held);
      expect(result.duplicates + delayedResult.duplicates).toBeLessThanOrEqual(held);
      // Ages on the server clock: an hour's skew would show as ±3,600,000 ms; a busy box may delay a
      // beat by seconds, so the bound is generous (the TTL and reassignments are checked elsewhere).
      expect(heartbeatAgeMax).toBeLessThan(60_000);
    });
  }, 120_000);

  it('9s. poison message that kills the worker process: dead-lettered after 3 deliveries, fleet keeps working', async () => {
    const concurrency = 8;
    const options = {
      name: 's9-poison',
      ...on(),
      workers: 3,
      concurrency,
      handler: POISON_HANDLER,
      env: { REDISPATCH_MAX_ATTEMPTS: '3' },
    };
    await FaultCluster.run(options, async (fleet) => {
      // A supervisor: every worker that exits is replaced by a fresh one.
      let supervising = true;
      const crashes: number[] = [];
      const supervise = (proc: CliProcess) => {
        void proc.exited().then(({ code }) => {
          if (!supervising) return;
          crashes.push(code ?? -1);
          void fleet
            .startWorker()
            .then(supervise)
            .catch(() => {});
        });
      };
      for (const worker of fleet.workers.values()) supervise(worker);
      const partitions = await loadPartitions(fleet.data, fleet.keys, fleet.prefix, 6);
      const count = faultSize(1_500, 900);
      const publishing = fleet.publish('s9', count, 300);
      await fleet.waitAccepted(300);
      const poisonedAt = performance.now();
      await fleet.data.publish(fleet.env.REDISPATCH_CHANNEL as string, 's9p:0:POISON');
      const poisonLetter = async () =>
        (await listStreamDeadLetters(fleet.data, partitions, 100)).find((l) => l.body.includes('POISON'));
      await expect
        .poll(async () => (await poisonLetter()) !== undefined, { timeout: 30_000, interval: 100 })
        .toBe(true);
      const deadLetteredMs = performance.now() - poisonedAt;
      expect((await publishing).code).toBe(0);
      const result = await fleet.waitHandled('s9', count);
      const stats = await fleet.waitIdle();
      supervising = false;
      const letters = await listStreamDeadLetters(fleet.data, partitions, 100);
      const poison = letters.find((l) => l.body.includes('POISON'));
      const collateral = letters.filter((l) => !l.body.includes('POISON')).length;
      recordFault({
        scenario: '9s. streams: poison kills the worker (max attempts 3)',
        lost: Math.max(0, result.lost - collateral),
        duplicates: result.duplicates,
        recover: `poison dead-lettered ${seconds(deadLetteredMs)} after publish (3 x ack timeout 2 s)`,
        notes: `reason "${poison?.reason}"; worker crashes ${crashes.length} (restarted); co-held dead-lettered ${collateral}; bound dup ≤ crashes x ${concurrency}`,
      });
      expect(poison?.reason).toBe('ack timeout: not acknowledged after 3 deliveries (max 3)');
      expect(crashes.length).toBe(3);
      expect(crashes.every((code) => code === 1)).toBe(true);
      expect(result.lost).toBeLessThanOrEqual(collateral);
      expect(result.duplicates).toBeLessThanOrEqual(crashes.length * concurrency);
      expect(stats.deadLetters).toBe(1 + collateral);
    });
  }, 120_000);

  // 10s. One slow worker (4 slots x 10 ms: at most 400/s) and a burst ten times that. The partitions
  // absorb the backlog (undelivered entries), acknowledged entries are trimmed behind it, and no process
  // holds more than its bounded read-ahead: memory stays flat and the backlog drains.
  it('10s. slow consumer and a burst 10x its drain rate: cluster memory and RSS bounded, backlog drains, 0 lost', async () => {
    const options = {
      name: 's10-burst',
      ...on(),
      dispatchers: 2,
      workers: 1,
      concurrency: 4,
      env: { CHECK_DELAY_MS: '10' },
    };
    await FaultCluster.run(options, async (fleet) => {
      // Streams mode: the data client is a Cluster.
      const masters = (fleet.data as Cluster).nodes('master');
      const memory = async () => {
        const infos = await Promise.all(masters.map((node) => node.info('memory')));
        return (
          infos.reduce((sum, info) => sum + Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0), 0) / 1024 / 1024
        );
      };
      const { result, stats, drainedMs, base, peak, notes } = await runBurst(fleet, {
        runId: 's10',
        count: faultSize(4_000, 2_000),
        rate: 4_000,
        timeoutMs: 45_000,
        redisUsedMb: memory,
        redisLabel: 'cluster',
      });
      recordFault({
        scenario: '10s. streams: burst 10x the drain rate, 1 slow worker',
        lost: result.lost,
        duplicates: result.duplicates,
        recover: `backlog drained ${seconds(drainedMs)} after the burst began`,
        notes,
      });
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBe(0);
      expect(stats.totals.acked).toBe(stats.totals.accepted);
      expect(peak.backlog).toBeGreaterThan(0);
      expect(peak.redis - base.redis).toBeLessThan(32);
      for (const role of ['leader', 'standby', 'worker'] as const)
        expect(peak[role] - base[role]).toBeLessThan(100);
    });
  }, 120_000);
});
