import { createKeys, readStats } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, runCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

const fx = useProcessFixture({ nats: { jetstream: true } });

describe('JetStream ingress', () => {
  it('loses nothing when every dispatcher is killed for seconds while publishing continues', async () => {
    const prefix = uniquePrefix('jetstream');
    const keys = createKeys(prefix);
    const dir = fx.tempDir('js');
    const env = {
      ...testEnv(fx.redis.url, prefix),
      CHECK_DIR: dir,
      REDISPATCH_INGRESS: 'jetstream',
      REDISPATCH_NATS_URL: fx.nats.url,
      REDISPATCH_NATS_SUBJECT: `${prefix}.in`,
      REDISPATCH_NATS_STREAM: `S-${prefix}`,
    };
    const startDispatchers = () => [0, 1, 2].map(() => fx.spawn(['dispatcher'], env));
    let dispatchers = startDispatchers();
    await Promise.all(dispatchers.map((d) => d.waitForLog(/"msg":"standby"/)));
    const worker = fx.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env);
    await worker.waitForLog(/worker registered/);
    await expect
      .poll(async () => (await readStats(fx.admin, keys, prefix)).leader?.pid, { timeout: 10_000 })
      .toBeDefined();

    const count = 12_000;
    const publish = runCli(
      ['publish', '--count', String(count), '--rate', '2000', '--run-id', 'js'],
      env,
      120_000,
    );
    await expect
      .poll(() => checkRun(dir, 'js', count).handled, { timeout: 10_000, interval: 50 })
      .toBeGreaterThan(1_000);
    // Every dispatcher dies at once; publishing goes on into the stream.
    for (const d of dispatchers) d.kill('SIGKILL');
    await Promise.all(dispatchers.map((d) => d.exited()));
    const handledAtOutage = checkRun(dir, 'js', count).handled;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // Nothing new can be routed while no dispatcher runs (the worker only finishes what it holds).
    const duringOutage = checkRun(dir, 'js', count).handled;
    dispatchers = startDispatchers();
    expect((await publish).code).toBe(0);
    await expect.poll(() => checkRun(dir, 'js', count).lost, { timeout: 60_000, interval: 250 }).toBe(0);
    const result = checkRun(dir, 'js', count);
    console.info(
      `jetstream outage: ${count} published, handled ${handledAtOutage} before the outage, ` +
        `${duringOutage - handledAtOutage} during it (already routed), lost ${result.lost}, duplicates ${result.duplicates}`,
    );
    expect(result.lost).toBe(0);
  }, 120_000);
});
