// `redispatch worker --isolate`: how handler processes start, stop and fail to load with their worker
// (isolate.test.ts: what runs in them and how their crashes are contained).
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../../dispatcher/test/helpers/cli-process.js';
import { sleep } from '../../dispatcher/test/helpers/fault-cluster.js';
import { testEnv, uniquePrefix } from '../../dispatcher/test/helpers/in-process.js';

import {
  alive,
  BAD_EXPORT,
  childPids,
  HANDLER,
  isolatedCluster,
  redisUrl,
  THROWING_IMPORT,
  useIsolateServer,
} from './helpers/isolate-harness.js';

useIsolateServer();

describe('worker --isolate: lifecycle', () => {
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
    const env = testEnv(redisUrl(), uniquePrefix('iso-bad'), { REDISPATCH_ISOLATE: 'true' });
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
