// Fault injection (issue 8), worker side, continued from worker.test.ts: a poison message that kills
// the worker process (and, under --isolate, only its handler process), and a burst far above the drain
// rate. Real processes (CLI dispatchers and workers), Redis pub/sub ingress, lists mode.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { listDeadLetters } from '@redispatch/shared';
import { type RedisHandle, startRedis, startRedisProcess } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBurst } from '../../../dispatcher/test/helpers/burst-probe.js';
import type { CliProcess } from '../../../dispatcher/test/helpers/cli-process.js';
import {
  FaultCluster,
  faultSize,
  killEverything,
  logLines,
} from '../../../dispatcher/test/helpers/fault-cluster.js';
import { printFaultTable, recordFault, seconds } from '../../../dispatcher/test/helpers/fault-table.js';

const POISON_HANDLER = fileURLToPath(
  new URL('../../../dispatcher/test/helpers/poison-handler.mjs', import.meta.url),
);

let server: RedisHandle;
const extraServers: RedisHandle[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await killEverything();
  await Promise.all([server, ...extraServers].map((s) => s?.stop()));
  printFaultTable('worker');
});

describe('fault injection: workers (poison, slow consumer)', () => {
  it('9. poison message that kills the worker process: dead-lettered after 3 attempts ("worker … lost"), fleet keeps working', async () => {
    const concurrency = 8;
    const options = {
      name: 'f9-poison',
      redisUrl: server.url,
      workers: 3,
      concurrency,
      handler: POISON_HANDLER,
      env: { REDISPATCH_MAX_ATTEMPTS: '3' },
    };
    await FaultCluster.run(options, async (cluster) => {
      // A supervisor: every worker that exits is replaced by a fresh one.
      let supervising = true;
      const crashes: { pid: number; code: number | null }[] = [];
      const supervise = (proc: CliProcess) => {
        void proc.exited().then(({ code }) => {
          if (!supervising) return;
          crashes.push({ pid: proc.pid, code });
          void cluster
            .startWorker()
            .then(supervise)
            .catch(() => {});
        });
      };
      for (const worker of cluster.workers.values()) supervise(worker);
      const count = faultSize(1_500, 900);
      const publishing = cluster.publish('f9', count, 300);
      await cluster.waitAccepted(300);
      const poisonedAt = performance.now();
      await cluster.admin.publish(cluster.env.REDISPATCH_CHANNEL as string, 'f9p:0:POISON');
      let poison: Awaited<ReturnType<typeof listDeadLetters>>[number] | undefined;
      await expect
        .poll(
          async () => {
            const letters = await listDeadLetters(cluster.admin, cluster.keys, 100);
            poison = letters.find((l) => l.body.includes('POISON'));
            return poison !== undefined;
          },
          { timeout: 20_000, interval: 100 },
        )
        .toBe(true);
      const deadLetteredMs = performance.now() - poisonedAt;
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('f9', count);
      const stats = await cluster.waitIdle();
      supervising = false;
      const letters = await listDeadLetters(cluster.admin, cluster.keys, 100);
      const collateral = letters.filter((l) => !l.body.includes('POISON')).length;
      recordFault({
        scenario: '9. poison message kills the worker (max attempts 3)',
        lost: Math.max(0, result.lost - collateral),
        duplicates: result.duplicates,
        recover: `poison dead-lettered ${seconds(deadLetteredMs)} after publish`,
        notes:
          `reason "${poison?.reason}", attempts ${poison?.attempts}; worker crashes ${crashes.length} (restarted); ` +
          `other messages dead-lettered with it ${collateral}; bound dup ≤ crashes x ${concurrency}`,
      });
      expect(poison?.reason).toMatch(/^worker .+ lost/);
      expect(poison?.attempts).toBe(3);
      expect(crashes.length).toBe(3);
      expect(crashes.every((c) => c.code === 1)).toBe(true);
      // Everything else was handled (a message that shared all three crashes may be dead-lettered too).
      // A co-held message may have run before a crash and still be dead-lettered: unhandled ≤ collateral.
      expect(result.lost).toBeLessThanOrEqual(collateral);
      expect(result.duplicates).toBeLessThanOrEqual(crashes.length * concurrency);
      expect(stats.deadLetters).toBe(1 + collateral);
      expect(FaultCluster.inventory(stats).missing).toBe(0);
    });
  }, 90_000);

  it('9b. the same poison under --isolate kills only a handler process: the worker survives, dead-lettered with the exit reason, nothing else charged', async () => {
    const concurrency = 4;
    const options = {
      name: 'f9b-isolate',
      redisUrl: server.url,
      workers: 2,
      concurrency,
      handler: POISON_HANDLER,
      env: { REDISPATCH_MAX_ATTEMPTS: '3', REDISPATCH_ISOLATE: 'true' },
      dispatcherMetrics: true,
    };
    await FaultCluster.run(options, async (cluster) => {
      const workerPids = [...cluster.workers.keys()];
      const count = faultSize(1_500, 900);
      const publishing = cluster.publish('f9b', count, 300);
      await cluster.waitAccepted(300);
      const poisonedAt = performance.now();
      let heartbeatAgeMax = 0;
      await cluster.admin.publish(cluster.env.REDISPATCH_CHANNEL as string, 'f9bp:0:POISON');
      let poison: Awaited<ReturnType<typeof listDeadLetters>>[number] | undefined;
      await expect
        .poll(
          async () => {
            const stats = await cluster.stats();
            heartbeatAgeMax = Math.max(heartbeatAgeMax, ...stats.workers.map((w) => w.heartbeatAgeMs));
            const letters = await listDeadLetters(cluster.admin, cluster.keys, 100);
            poison = letters.find((l) => l.body.includes('POISON'));
            return poison !== undefined;
          },
          { timeout: 20_000, interval: 100 },
        )
        .toBe(true);
      const deadLetteredMs = performance.now() - poisonedAt;
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('f9b', count);
      const stats = await cluster.waitIdle();
      const restarts = cluster.allWorkers
        .flatMap((w) => logLines(w))
        .filter((l) => l.msg === 'handler process died; replacing it').length;
      const workerLost = await cluster.redelivered('worker_lost');
      const timedOut = await cluster.redelivered('timeout');
      recordFault({
        scenario: '9b. poison kills the handler process, --isolate (max attempts 3)',
        lost: result.lost,
        duplicates: result.duplicates,
        recover: `poison dead-lettered ${seconds(deadLetteredMs)} after publish; worker never down`,
        notes:
          `reason "${poison?.reason}"; handler processes replaced ${restarts}; worker exits ${cluster.allWorkers.filter((w) => w.child.exitCode !== null).length}; ` +
          `redelivered: worker lost ${workerLost}, ack timeout ${timedOut} (a starved box); dead letters ${stats.deadLetters}; heartbeat age ≤ ${heartbeatAgeMax} ms; bound dup ≤ timeouts`,
      });
      expect(poison?.reason).toBe('HandlerProcessError: handler process exited with code 1 (attempt 3 of 3)');
      expect(poison?.attempts).toBe(3);
      expect(restarts).toBe(3);
      // The workers themselves never went down: same processes, never declared dead, nothing co-charged.
      expect([...cluster.workers.keys()].sort()).toEqual(workerPids.sort());
      expect(cluster.allWorkers.length).toBe(2);
      expect(workerLost).toBe(0);
      // (Their heartbeats kept up: never declared dead is the check; the age is in the table's notes.)
      expect(cluster.allWorkers.some((w) => /re-registered/.test(w.output()))).toBe(false);
      expect(result.lost).toBe(0);
      // A crash charges nobody else; a handler run that outlived its ack deadline on a starved box does
      // run again (at-least-once), and only those.
      expect(result.duplicates).toBeLessThanOrEqual(timedOut);
      expect(stats.totals.redelivered).toBe(workerLost + timedOut);
      expect(stats.deadLetters).toBe(1);
      expect(FaultCluster.inventory(stats).missing).toBe(0);
    });
  }, 90_000);

  it('10. slow consumer and a burst 10x its drain rate: Redis memory and RSS bounded, backlog drains, 0 lost', async () => {
    const data = await startRedisProcess();
    extraServers.push(data);
    const options = {
      name: 'f10-burst',
      redisUrl: data.url,
      dispatchers: 2,
      workers: 1,
      concurrency: 4,
      env: { CHECK_DELAY_MS: '10', REDISPATCH_QUEUE_HIGH_WATER: '200' },
    };
    await FaultCluster.run(options, async (cluster) => {
      const memory = async () => {
        const info = await cluster.admin.info('memory');
        return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1024 / 1024;
      };
      // The worker drains at most 4 / 10 ms = 400/s; the burst comes at 4,000/s.
      const { result, stats, drainedMs, base, peak, notes } = await runBurst(cluster, {
        runId: 'f10',
        count: faultSize(4_000, 2_000),
        rate: 4_000,
        timeoutMs: 45_000,
        redisUsedMb: memory,
        redisLabel: 'Redis',
      });
      recordFault({
        scenario: '10. burst 10x the drain rate, 1 slow worker',
        lost: result.lost,
        duplicates: result.duplicates,
        recover: `backlog drained ${seconds(drainedMs)} after the burst began`,
        notes,
      });
      expect(result.lost).toBe(0);
      expect(FaultCluster.inventory(stats).missing).toBe(0);
      expect(peak.backlog).toBeGreaterThan(0);
      // 4,000 x 64 B of payload: Redis grows by a few MB at most, and no process balloons.
      expect(peak.redis - base.redis).toBeLessThan(32);
      for (const role of ['leader', 'standby', 'worker'] as const)
        expect(peak[role] - base[role]).toBeLessThan(100);
    });
  }, 90_000);
});
