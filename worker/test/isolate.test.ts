// `redispatch worker --isolate` (issue 8): handlers run in child processes, so a handler that exits its
// process, is killed by a signal, allocates without bound or blocks its event loop loses only its child.
// Real processes: CLI dispatcher and worker, redis-server, the handler processes the worker forks.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { listDeadLetters, Publisher } from '@redispatch/shared';
import { freePort, type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../../dispatcher/test/helpers/cli-process.js';
import {
  FaultCluster,
  type FaultClusterOptions,
  killEverything,
  sleep,
} from '../../dispatcher/test/helpers/fault-cluster.js';
import { testEnv, uniquePrefix } from '../../dispatcher/test/helpers/in-process.js';
import { sampleValue, scrape } from '../../dispatcher/test/helpers/metrics-probe.js';

const HANDLER = fileURLToPath(new URL('./fixtures/isolate-handler.mjs', import.meta.url));
const BAD_EXPORT = fileURLToPath(new URL('../../dispatcher/test/fixtures/bad-export.mjs', import.meta.url));
const THROWING_IMPORT = fileURLToPath(new URL('./fixtures/throwing-import.mjs', import.meta.url));

let server: RedisHandle;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await killEverything();
  await server?.stop();
});

interface Recorded {
  kind: 'fields' | 'aborted';
  id: string;
  hex?: string;
  isBuffer?: boolean;
  header?: Record<string, unknown> | null;
  attempt: number;
  claimedAt?: number;
  signal?: boolean;
  reason?: string;
  pid?: number;
  ppid?: number;
}

function recorded(dir: string): Recorded[] {
  return readdirSync(dir)
    .filter((file) => file.startsWith('fields-'))
    .flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Recorded);
}

/** Pids whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One dispatcher and one isolated worker (serving metrics), started with the given extra environment. */
async function isolatedCluster(name: string, env: Record<string, string>) {
  const options: FaultClusterOptions = {
    name,
    redisUrl: server.url,
    dispatchers: 1,
    workers: 0,
    concurrency: 4,
    handler: HANDLER,
    env: { REDISPATCH_ISOLATE: 'true', REDISPATCH_ISOLATE_POOL: '4', ...env },
    dispatcherMetrics: true,
  };
  const cluster = await FaultCluster.start(options);
  const metricsPort = await freePort();
  const worker = await cluster.startWorker({ REDISPATCH_METRICS_PORT: String(metricsPort) });
  await expect.poll(async () => (await cluster.stats()).workers.length, { timeout: 10_000 }).toBe(1);
  const restarts = async (reason: string) =>
    sampleValue((await scrape(metricsPort)).families, 'redispatch_worker_isolate_restarts_total', {
      reason,
    }) ?? 0;
  const processes = async () =>
    sampleValue((await scrape(metricsPort)).families, 'redispatch_worker_isolate_processes') ?? 0;
  return { cluster, worker, restarts, processes };
}

/**
 * Worker TTL for the "worker never lapses" tests: the heartbeat (200 ms) must never fall this far
 * behind. Generous, so a busy box does not starve a healthy worker past it; a worker whose event loop a
 * crashing or hogging handler blocked would still cross it.
 */
const LAPSE_TTL_MS = 5_000;

/** Samples the worker's heartbeat age (as the leader sees it) until `stop()`; returns the largest. */
function watchHeartbeat(cluster: FaultCluster) {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const stats = await cluster.tryStats();
      for (const w of stats?.workers ?? []) max = Math.max(max, w.heartbeatAgeMs);
      if (stats) samples += 1;
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

async function deadLetters(cluster: FaultCluster, count: number, timeoutMs = 30_000) {
  await expect
    .poll(async () => (await listDeadLetters(cluster.admin, cluster.keys, 100)).length, {
      timeout: timeoutMs,
      interval: 100,
    })
    .toBeGreaterThanOrEqual(count);
  return listDeadLetters(cluster.admin, cluster.keys, 100);
}

describe('worker --isolate', () => {
  it('runs N messages through handler processes with 0 lost and 0 duplicates; every Message field arrives, bodies byte-exact', async () => {
    // A long ack timeout: no run can outlive it even on a starved box, so any duplicate would be a defect.
    const { cluster, worker } = await isolatedCluster('iso-clean', {
      REDISPATCH_ISOLATE_POOL: '2',
      REDISPATCH_ACK_TIMEOUT_MS: '30000',
      // 5 ms per run at 1,000/s keeps about five runs in hand: more than one process's share (2), so
      // the pool must use both (with instant runs the idle first process could take every one).
      CHECK_DELAY_MS: '5',
    });
    try {
      const count = 2_000;
      const publishing = cluster.publish('isoc', count, 1_000);
      // Binary bodies: plain ones (a text prefix, then every byte value) and envelope bodies that start
      // with 0xFE and carry a header.
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      const publisher = new Publisher({ redis: cluster.admin, channel });
      const sent = new Map<string, { id?: string }>();
      const startedAt = Date.now();
      for (let i = 0; i < 40; i++) {
        const random = randomBytes(64 + i * 97);
        if (i % 2 === 0) {
          const body = Buffer.concat([Buffer.from('FIELDS:'), Buffer.from([0, 255, 0xfe, 10, 13]), random]);
          await cluster.admin.publish(channel, body);
          sent.set(body.toString('hex'), {});
        } else {
          const body = Buffer.concat([Buffer.from([0xfe, 0x01, 0x00, 0]), random]);
          // The caller identity (extension record) reaches handler processes too.
          await publisher.publish(body, { id: `bin-${i}`, replyTo: 'fields', identity: `caller-${i}` });
          sent.set(body.toString('hex'), { id: `bin-${i}` });
        }
      }
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isoc', count);
      await cluster.waitIdle();
      await expect.poll(() => recorded(cluster.dir).length, { timeout: 10_000 }).toBe(sent.size);
      const fields = recorded(cluster.dir);
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBe(0);
      expect((await cluster.stats()).totals.redelivered).toBe(0);
      expect(new Set(fields.map((f) => f.hex))).toEqual(new Set(sent.keys()));
      expect(new Set(fields.map((f) => f.id)).size).toBe(sent.size);
      for (const f of fields) {
        expect(f.isBuffer).toBe(true);
        expect(f.attempt).toBe(1);
        expect(f.signal).toBe(true);
        expect(f.claimedAt).toBeGreaterThanOrEqual(startedAt - 1_000);
        expect(f.claimedAt).toBeLessThanOrEqual(Date.now());
        // Ran in a handler process of this worker, not in the worker itself.
        expect(f.ppid).toBe(worker.pid);
        expect(f.pid).not.toBe(worker.pid);
        const publisherId = sent.get(f.hex ?? '')?.id;
        if (publisherId) {
          const identity = `caller-${publisherId.slice('bin-'.length)}`;
          expect(f.header).toMatchObject({ id: publisherId, replyTo: 'fields', identity });
        } else expect(f.header).toBeNull();
      }
      // Both handler processes took part (each runs concurrency / 2 at once): each recorded checker
      // runs in its own file, and every Message-fields run came from one of those two processes.
      const checkerPids = [...result.perProcess]
        .filter(([file, handled]) => file.endsWith('.log') && handled > 0)
        .map(([file]) => Number(file.slice(0, -'.log'.length)));
      expect(checkerPids).toHaveLength(2);
      for (const f of fields) expect(checkerPids).toContain(f.pid);
      expect([...result.perProcess.values()].filter((n) => n > 0).length).toBe(2);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('a handler that exits its process (code 3) or dies of SIGSEGV: child replaced, message dead-lettered after max attempts with the reason, worker never lapses', async () => {
    const { cluster, worker, restarts, processes } = await isolatedCluster('iso-exit', {
      REDISPATCH_WORKER_TTL_MS: String(LAPSE_TTL_MS),
      REDISPATCH_MAX_ATTEMPTS: '3',
    });
    try {
      const heartbeat = watchHeartbeat(cluster);
      const count = 600;
      const publishing = cluster.publish('isoe', count, 300);
      await cluster.waitAccepted(100);
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      await cluster.admin.publish(channel, 'EXIT:poison');
      // SIGSEGV sent by the handler to its own process: the same death a segfaulting native addon
      // causes (no addon is built here, so no real invalid memory access happens).
      await cluster.admin.publish(channel, 'SEGV:poison');
      const letters = await deadLetters(cluster, 2);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isoe', count);
      const stats = await cluster.waitIdle();
      const beat = await heartbeat.stop();
      const exit = letters.find((l) => l.body.toString() === 'EXIT:poison');
      const segv = letters.find((l) => l.body.toString() === 'SEGV:poison');
      expect(letters.length).toBe(2);
      expect(exit?.reason).toBe('HandlerProcessError: handler process exited with code 3 (attempt 3 of 3)');
      expect(segv?.reason).toBe('HandlerProcessError: handler process killed by SIGSEGV (attempt 3 of 3)');
      expect(exit?.attempts).toBe(3);
      expect(segv?.attempts).toBe(3);
      expect(await restarts('exit')).toBe(3);
      expect(await restarts('signal')).toBe(3);
      await expect.poll(processes, { timeout: 10_000 }).toBe(4);
      // One message per handler process: a crash takes nothing else with it (a run that outlived its
      // ack deadline on a starved box runs again, at-least-once: the only duplicates allowed).
      const timedOut = await cluster.redelivered('timeout');
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBeLessThanOrEqual(timedOut);
      // The worker itself never stopped: never declared dead, heartbeats on time.
      expect(await cluster.redelivered('worker_lost')).toBe(0);
      expect(stats.totals.redelivered).toBe(timedOut);
      expect(stats.workers.map((w) => w.id)).toEqual([`${cluster.prefix}-w0`]);
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output()).not.toMatch(/re-registered/);
      expect(beat.samples).toBeGreaterThan(10);
      expect(beat.max).toBeLessThan(LAPSE_TTL_MS);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('a handler that allocates without bound: its process is killed at the memory limit and replaced, the message dead-lettered, others flow', async () => {
    const { cluster, worker, restarts, processes } = await isolatedCluster('iso-hog', {
      REDISPATCH_WORKER_TTL_MS: String(LAPSE_TTL_MS),
      REDISPATCH_MAX_ATTEMPTS: '2',
      REDISPATCH_ISOLATE_MAX_MEMORY_MB: '64',
      // The memory limit, not the ack deadline, must be what stops it, even on a loaded box.
      REDISPATCH_ACK_TIMEOUT_MS: '20000',
    });
    try {
      const heartbeat = watchHeartbeat(cluster);
      const count = 400;
      const publishing = cluster.publish('isoh', count, 200);
      await cluster.waitAccepted(50);
      await cluster.admin.publish(cluster.env.REDISPATCH_CHANNEL as string, 'HOG:poison');
      const [hog] = await deadLetters(cluster, 1);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isoh', count);
      const stats = await cluster.waitIdle();
      const beat = await heartbeat.stop();
      expect(hog?.body.toString()).toBe('HOG:poison');
      expect(hog?.reason).toMatch(
        /^HandlerProcessError: handler process exceeded its memory limit \((V8 heap 64 MB|resident \d+ MB > 192 MB)\) \(attempt 2 of 2\)$/,
      );
      expect(await restarts('memory')).toBe(2);
      await expect.poll(processes, { timeout: 10_000 }).toBe(4);
      // Ack timeout 20 s: no run outlives it, so no redelivery at all and no duplicate.
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBe(0);
      expect(stats.totals.redelivered).toBe(0);
      expect(await cluster.redelivered('worker_lost')).toBe(0);
      expect(worker.child.exitCode).toBeNull();
      expect(beat.max).toBeLessThan(LAPSE_TTL_MS);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('a handler that blocks its event loop past the ack timeout: killed and replaced, the attempt counts, heartbeats and other messages carry on; a handler that honours its signal is not killed', async () => {
    const { cluster, worker, restarts, processes } = await isolatedCluster('iso-spin', {
      REDISPATCH_WORKER_TTL_MS: String(LAPSE_TTL_MS),
      REDISPATCH_MAX_ATTEMPTS: '2',
    });
    try {
      const heartbeat = watchHeartbeat(cluster);
      const count = 800;
      const publishing = cluster.publish('isos', count, 200);
      await cluster.waitAccepted(50);
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      await cluster.admin.publish(channel, 'SPIN:poison');
      await cluster.admin.publish(channel, 'ABORTWAIT:slow');
      const letters = await deadLetters(cluster, 2);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isos', count);
      const stats = await cluster.waitIdle();
      const beat = await heartbeat.stop();
      expect(letters.map((l) => l.body.toString()).sort()).toEqual(['ABORTWAIT:slow', 'SPIN:poison']);
      for (const letter of letters) expect(letter.reason).toBe('ack timeout (attempt 2 of 2)');
      // Only the blocked loop was killed (once per attempt, a grace period after its deadline); the
      // cooperative handler saw its signal abort and was left alone.
      await expect.poll(() => restarts('timeout'), { timeout: 5_000 }).toBe(2);
      await sleep(1_500);
      expect(await restarts('timeout')).toBe(2);
      const aborted = recorded(cluster.dir).filter((r) => r.kind === 'aborted');
      expect(aborted.map((r) => [r.attempt, r.reason]).sort()).toEqual([
        [1, 'HandlerTimeoutError'],
        [2, 'HandlerTimeoutError'],
      ]);
      await expect.poll(processes, { timeout: 10_000 }).toBe(4);
      // The two slow messages' first attempts were redelivered at their deadline (on a starved box other
      // runs may outlive theirs too, and run again); the worker was never declared dead.
      const timedOut = await cluster.redelivered('timeout');
      expect(timedOut).toBeGreaterThanOrEqual(2);
      expect(await cluster.redelivered('worker_lost')).toBe(0);
      expect(stats.totals.redelivered).toBe(timedOut);
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBeLessThanOrEqual(timedOut - 2);
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output()).not.toMatch(/re-registered/);
      expect(beat.max).toBeLessThan(LAPSE_TTL_MS);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('handler processes do not outlive a SIGKILLed worker, even one whose event loop is blocked', async () => {
    const { cluster, worker } = await isolatedCluster('iso-orphan', { REDISPATCH_ACK_TIMEOUT_MS: '20000' });
    try {
      await cluster.admin.publish(cluster.env.REDISPATCH_CHANNEL as string, 'SPIN:orphan');
      await expect.poll(async () => (await cluster.stats()).inflight, { timeout: 10_000 }).toBe(1);
      const children = childPids(worker.pid);
      expect(children.length).toBe(4);
      worker.kill('SIGKILL');
      await worker.exited();
      await expect.poll(() => children.filter(alive), { timeout: 5_000, interval: 100 }).toEqual([]);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('SIGTERM drains: handlers in the children finish and are acked, then the children exit with the worker', async () => {
    const { cluster, worker } = await isolatedCluster('iso-drain', { CHECK_DELAY_MS: '400' });
    try {
      const publishing = cluster.publish('isod', 40, 200);
      await expect.poll(async () => (await cluster.stats()).inflight, { timeout: 10_000 }).toBe(4);
      const children = childPids(worker.pid);
      expect(children.length).toBe(4);
      worker.kill('SIGTERM');
      const { code } = await worker.exited();
      expect((await publishing).code).toBe(0);
      expect(code).toBe(0);
      expect(children.filter(alive)).toEqual([]);
      // Everything a child ran was acked before the worker left; the rest waits for another worker.
      const handled = cluster.check('isod', 40).handled;
      const inventory = await cluster.settledInventory();
      expect(handled).toBeGreaterThanOrEqual(4);
      expect(inventory.acked).toBe(handled);
      expect(inventory.missing).toBe(0);
      expect(worker.output()).toMatch(/"unfinished":0.*worker stopped/);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('a handler module that cannot load fails the worker start with a clear error', async () => {
    const env = testEnv(server.url, uniquePrefix('iso-bad'), { REDISPATCH_ISOLATE: 'true' });
    for (const [module, text] of [
      [BAD_EXPORT, /must have a default export that is a function/],
      [THROWING_IMPORT, /cannot load ".*throwing-import.mjs": cannot initialise: missing database URL/],
    ] as const) {
      const started = performance.now();
      const { code, output } = await runCli(['worker', '--isolate', '--handler', module], env, 30_000);
      expect(code).toBe(1);
      expect(output).toMatch(text);
      // One attempt per handler process, then out: not a restart loop.
      expect(performance.now() - started).toBeLessThan(25_000);
    }
    // A pool larger than the handler slots is a configuration error naming both settings.
    const tooBig = await runCli(
      ['worker', '--isolate', '--isolate-pool', '9', '--concurrency', '2', '--handler', HANDLER],
      env,
    );
    expect(tooBig.code).toBe(2);
    expect(tooBig.output).toMatch(
      /REDISPATCH_ISOLATE_POOL \(9\) must not exceed REDISPATCH_CONCURRENCY \(2\)/,
    );
    // The bare flag turns isolation on (the environment here does not).
    const { REDISPATCH_ISOLATE: _unset, ...plain } = env;
    const worker = spawnCli(['worker', '--isolate', '--concurrency', '2', '--handler', HANDLER], plain);
    try {
      await worker.waitForLog(/"processes":2,"perProcess":1.*handler processes ready/, 20_000);
    } finally {
      worker.kill('SIGKILL');
      await worker.exited();
    }
  }, 90_000);

  it('replaces a child whose module stops loading with backoff (no fork bomb), and recovers when it loads again', async () => {
    const breakFile = join(tmpdir(), `redispatch-break-${process.pid}`);
    rmSync(breakFile, { force: true });
    const { cluster, restarts, processes } = await isolatedCluster('iso-flaky', {
      REDISPATCH_ISOLATE_POOL: '1',
      REDISPATCH_CONCURRENCY: '1',
      REDISPATCH_MAX_ATTEMPTS: '5',
      BREAK_FILE: breakFile,
    });
    try {
      writeFileSync(breakFile, 'broken');
      // The only handler process dies; every replacement fails to load while the file exists.
      await cluster.admin.publish(cluster.env.REDISPATCH_CHANNEL as string, 'EXIT:once');
      await expect.poll(() => restarts('start_failed'), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      const brokenAt = performance.now();
      await sleep(3_000);
      const failures = await restarts('start_failed');
      const brokenMs = performance.now() - brokenAt;
      expect(await processes()).toBe(0);
      rmSync(breakFile, { force: true });
      await expect.poll(processes, { timeout: 40_000 }).toBe(1);
      // Backoff 100 ms doubling: about log2 of the elapsed time, far from one restart per fork.
      expect(failures).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(brokenMs / 100 + 1)));
      const publishing = cluster.publish('isof', 50, 100);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isof', 50);
      expect(result.lost).toBe(0);
    } finally {
      rmSync(breakFile, { force: true });
      await cluster.close();
    }
  }, 90_000);
});
