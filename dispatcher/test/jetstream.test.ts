import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createKeys, readStats } from '@redispatch/shared';
import { type NatsHandle, type RedisHandle, startNatsServer, startRedis } from '@redispatch/shared/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

let server: RedisHandle;
let nats: NatsHandle;
let admin: Redis;
const processes: CliProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [server, nats] = await Promise.all([startRedis(), startNatsServer({ jetstream: true })]);
  admin = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'admin',
  });
  await admin.connect();
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  admin.disconnect();
  await Promise.all([server.stop(), nats.stop()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('JetStream ingress', () => {
  it('loses nothing when every dispatcher is killed for seconds while publishing continues', async () => {
    const prefix = uniquePrefix('jetstream');
    const keys = createKeys(prefix);
    const dir = mkdtempSync(join(tmpdir(), 'redispatch-js-'));
    dirs.push(dir);
    const env = {
      ...testEnv(server.url, prefix),
      CHECK_DIR: dir,
      REDISPATCH_INGRESS: 'jetstream',
      REDISPATCH_NATS_URL: nats.url,
      REDISPATCH_NATS_SUBJECT: `${prefix}.in`,
      REDISPATCH_NATS_STREAM: `S-${prefix}`,
    };
    const startDispatchers = () =>
      [0, 1, 2].map(() => {
        const proc = spawnCli(['dispatcher'], env);
        processes.push(proc);
        return proc;
      });
    let dispatchers = startDispatchers();
    await Promise.all(dispatchers.map((d) => d.waitForLog(/"msg":"standby"/)));
    const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env);
    processes.push(worker);
    await worker.waitForLog(/worker registered/);
    await expect
      .poll(async () => (await readStats(admin, keys, prefix)).leader?.pid, { timeout: 10_000 })
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
