import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedisProcess } from '@redispatch/testing';
import { expect, it } from 'vitest';
import { CHECKER_HANDLER, type CliProcess, spawnCli } from './helpers/cli-process.js';
import { runFrozenStop, stopTime } from './helpers/frozen-stop.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Guarantee 9 (every stop is bounded): the close steps share one budget, the drain timeout plus a
// margin, so a leader whose data Redis went away (its batch unwritable, its unsubscribe unanswered)
// still exits on SIGTERM instead of waiting for a Redis that may never come back.
it('a leader whose data Redis is down still exits on SIGTERM', async () => {
  const redis = await startRedisProcess();
  const prefix = uniquePrefix('stop-down');
  const env = {
    ...testEnv(redis.url, prefix),
    REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
    REDISPATCH_LOG_LEVEL: 'info',
  };
  const dispatcher = spawnCli(['dispatcher'], env);
  try {
    await dispatcher.waitForLog(/"msg":"elected leader"/, 20_000);
    await redis.stop();
    dispatcher.kill('SIGTERM');
    const exit = await dispatcher.exited();
    // It could not flush: non-zero, and it says what it left.
    expect(exit.code, dispatcher.output()).toBe(1);
    expect(dispatcher.output()).toMatch(/"msg":"shutdown step ran out of time; continuing"/);
    expect(dispatcher.output()).toMatch(
      /dispatcher stopped with steps left undone|shutdown ran out of its budget/,
    );
  } finally {
    dispatcher.kill('SIGKILL');
    await redis.stop();
  }
}, 60_000);

// Issue 22 item 1: with the data Redis frozen (SIGSTOP: connections open, nothing answered — the
// harder case than a refused connection), every role ends within REDISPATCH_DRAIN_TIMEOUT_MS + 2 s.
it('with the data Redis frozen by SIGSTOP, dispatcher, worker and relay each exit within the drain timeout + 2 s', async () => {
  const redis = await startRedisProcess();
  const prefix = uniquePrefix('stop-frozen');
  const drainMs = 1_000;
  const env = {
    ...testEnv(redis.url, prefix),
    REDISPATCH_DRAIN_TIMEOUT_MS: String(drainMs),
    REDISPATCH_LOG_LEVEL: 'info',
  };
  const dispatcher = spawnCli(['dispatcher'], env);
  const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER], env);
  const relay = spawnCli(['relay'], { ...env, REDISPATCH_RELAY_PORT: String(await freePort()) });
  const all = [dispatcher, worker, relay];
  try {
    await Promise.all([
      dispatcher.waitForLog(/"msg":"elected leader"/, 30_000),
      worker.waitForLog(/worker registered/, 30_000),
      relay.waitForLog(/relay listening/, 30_000),
    ]);
    redis.signal('SIGSTOP');
    for (const proc of all) proc.kill('SIGTERM');
    const [d, w, r] = await Promise.all(all.map(stopTime));
    const times = `dispatcher ${d?.ms} ms (exit ${d?.code}), worker ${w?.ms} ms (exit ${w?.code}), relay ${r?.ms} ms (exit ${r?.code})`;
    console.log(`stop-frozen: ${times}`);
    for (const t of [d, w, r]) expect(t?.ms, times).toBeLessThanOrEqual(drainMs + 2_000);
    // The leader could not flush or step down against a frozen Redis: it says so and exits non-zero.
    expect(d?.code, dispatcher.output()).toBe(1);
  } finally {
    redis.signal('SIGCONT');
    for (const proc of all) proc.kill('SIGKILL');
    await redis.stop();
  }
}, 90_000);

// Issue 22 item 1, the second half: a stop that could not flush loses nothing (lists mode;
// streams mode: stop-without-redis-streams.test.ts).
it('after SIGTERM with the data Redis frozen, nothing is lost once it is back', async () => {
  const redis = await startRedisProcess();
  const dir = mkdtempSync(join(tmpdir(), 'stop-noloss-'));
  const processes: CliProcess[] = [];
  try {
    await runFrozenStop({
      env: {
        ...testEnv(redis.url, uniquePrefix('stop-noloss')),
        REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
        CHECK_DIR: dir,
        // Handlers that take a while, so the stopped worker holds claims when Redis freezes.
        CHECK_DELAY_MS: '20',
      },
      spawn: (args, env) => {
        const proc = spawnCli(args, env);
        processes.push(proc);
        return proc;
      },
      freeze: () => redis.signal('SIGSTOP'),
      thaw: () => redis.signal('SIGCONT'),
      ready: async (dispatchers, workers) => {
        await Promise.all(workers.map((w) => w.waitForLog(/worker registered/, 30_000)));
        await Promise.all(dispatchers.map((d) => d.waitForLog(/"msg":"(elected leader|standby)"/, 30_000)));
      },
      drainMs: 1_000,
      count: 12_000,
      label: 'stop-noloss',
    });
  } finally {
    for (const proc of processes) proc.kill('SIGKILL');
    await Promise.all(processes.map((proc) => proc.exited()));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
