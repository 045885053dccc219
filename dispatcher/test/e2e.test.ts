import { createKeys, readStats } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, runCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

const fx = useProcessFixture();

describe('end to end through the CLI', () => {
  it('3 dispatchers, 3 workers, 20,000 messages, one worker SIGKILLed mid-run: zero lost', async () => {
    const prefix = uniquePrefix('e2e');
    const keys = createKeys(prefix);
    const dir = fx.tempDir('e2e');
    const env = { ...testEnv(fx.redis.url, prefix), CHECK_DIR: dir };
    for (let i = 0; i < 3; i++) fx.spawn(['dispatcher'], env);
    const workers = [0, 1, 2].map(() =>
      fx.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env),
    );
    await Promise.all(workers.map((w) => w.waitForLog(/worker registered/)));
    await expect
      // Every dispatcher subscribes: the leader routes, the standbys buffer for failover replay.
      .poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 })
      .toBe(3);
    // Let the leader's reaper see every worker before the load starts.
    await expect
      .poll(async () => (await readStats(fx.admin, keys, prefix)).workers.length, { timeout: 5_000 })
      .toBe(3);

    const count = 20_000;
    const started = performance.now();
    const publish = runCli(
      ['publish', '--count', String(count), '--rate', '8000', '--run-id', 'e2e'],
      env,
      60_000,
    );
    await expect
      .poll(() => checkRun(dir, 'e2e', count).handled, { timeout: 20_000, interval: 50 })
      .toBeGreaterThan(count / 3);
    workers[0]?.kill('SIGKILL');
    expect((await publish).code).toBe(0);
    await expect.poll(() => checkRun(dir, 'e2e', count).lost, { timeout: 30_000, interval: 200 }).toBe(0);
    const seconds = (performance.now() - started) / 1000;
    const result = checkRun(dir, 'e2e', count);
    const stats = await readStats(fx.admin, keys, prefix);
    console.info(
      `e2e: ${count} messages, lost ${result.lost}, duplicates ${result.duplicates}, ${seconds.toFixed(1)} s, ` +
        `redelivered ${stats.totals.redelivered}, accepted ${stats.totals.accepted}`,
    );
    expect(result.lost).toBe(0);
    expect(stats.totals.accepted).toBe(count);
    // Only what the killed worker held in its handlers (concurrency 32) can run twice.
    expect(result.duplicates).toBeLessThanOrEqual(32);
    await expect
      .poll(
        async () => {
          const s = await readStats(fx.admin, keys, prefix);
          return (
            s.inflight +
            s.backlog +
            s.delayed +
            s.deadLetters +
            s.workers.reduce((sum, w) => sum + w.queued, 0)
          );
        },
        { timeout: 10_000 },
      )
      .toBe(0);
  });
});
