import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createKeys } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Guarantee 8, one deployment, one shape: a process of another mode (or partition count) refuses
// to join a prefix, with one line naming REDISPATCH_MODE and exit 2, and writes nothing there.
let server: RedisHandle;
let ops: Redis;
let dir = '';
const processes: CliProcess[] = [];

beforeAll(async () => {
  server = await startRedis();
  ops = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'ops',
  });
  await ops.connect();
  dir = mkdtempSync(join(tmpdir(), 'redispatch-stamp-'));
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  ops.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The `redispatch:` lines a refused process printed (its JSON log lines aside). */
const refusals = (lines: string[]) => lines.filter((line) => line.startsWith('redispatch: '));

const lineFor = (mode: string, prefix: string, other: string, since = 'stamped \\d{4}-\\d\\d-\\d\\dT[^)]+') =>
  new RegExp(
    `^redispatch: REDISPATCH_MODE=${mode}, but prefix "${prefix}" is a ${other} deployment \\(${since}\\); use REDISPATCH_MODE=${other} or another REDISPATCH_PREFIX$`,
  );

describe('one deployment, one mode', () => {
  it('refuses a streams worker, dispatcher and stats on a lists deployment; every message reaches the lists worker', async () => {
    const prefix = uniquePrefix('stamp');
    const keys = createKeys(prefix);
    const checkDir = mkdtempSync(join(dir, 'check-'));
    const env = testEnv(server.url, prefix, { CHECK_DIR: checkDir });
    const dispatcher = spawnCli(['dispatcher'], env);
    const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER], env);
    processes.push(dispatcher, worker);
    await worker.waitForLog(/worker registered/);
    await dispatcher.waitForLog(/"msg":"elected leader"/);
    expect(JSON.parse((await ops.get(keys.deployment)) ?? '{}')).toMatchObject({
      mode: 'lists',
      partitions: 0,
      format: 1,
    });
    // The live processes' own records (the endpoint directory) exist before the snapshot, so the
    // comparison below sees only what a refused process might have written.
    await expect.poll(() => ops.hlen(keys.endpoints), { timeout: 10_000 }).toBe(2);
    const keysBefore = (await ops.keys(`{${prefix}}*`)).sort();

    const streams = { ...env, REDISPATCH_MODE: 'streams' };
    for (const args of [
      ['worker', '--handler', CHECKER_HANDLER],
      ['dispatcher'],
      ['stats'],
      ['dlq', 'list'],
      ['relay'],
    ]) {
      const refused = await runCli(args, { ...streams, REDISPATCH_RELAY_PORT: '0' });
      expect(refused.code, `${args[0]}: ${refused.output}`).toBe(2);
      expect(refusals(refused.lines), args[0]).toHaveLength(1);
      expect(refusals(refused.lines)[0], args[0]).toMatch(lineFor('streams', prefix, 'lists'));
    }
    // Nothing written: no partition table, no second worker, no key that was not there before.
    expect((await ops.keys(`{${prefix}}*`)).sort()).toEqual(keysBefore);
    expect(await ops.zcard(keys.workers)).toBe(1);

    const publish = await runCli(['publish', '--count', '300', '--size', '40', '--run-id', 'one'], env);
    expect(publish.code, publish.output).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'one', 300).lost, { timeout: 15_000 }).toBe(0);
    expect(checkRun(checkDir, 'one', 300).handled).toBeGreaterThanOrEqual(300);
  });

  it('refuses a lists worker, and a streams dispatcher of another partition count, on a streams deployment', async () => {
    const prefix = uniquePrefix('stamp-s');
    const env = testEnv(server.url, prefix, { REDISPATCH_MODE: 'streams', REDISPATCH_PARTITIONS: '2' });
    const dispatcher = spawnCli(['dispatcher'], env);
    processes.push(dispatcher);
    await dispatcher.waitForLog(/"msg":"elected leader"/);
    const keysBefore = (await ops.keys(`{${prefix}}*`)).sort();

    const lists = await runCli(['worker', '--handler', CHECKER_HANDLER], {
      ...env,
      REDISPATCH_MODE: 'lists',
    });
    expect(lists.code, lists.output).toBe(2);
    expect(refusals(lists.lines)).toHaveLength(1);
    expect(refusals(lists.lines)[0]).toMatch(lineFor('lists', prefix, 'streams'));

    const wider = await runCli(['dispatcher'], { ...env, REDISPATCH_PARTITIONS: '3' });
    expect(wider.code, wider.output).toBe(2);
    expect(refusals(wider.lines)).toEqual([
      `redispatch: REDISPATCH_PARTITIONS is 3 but the deployment with prefix "${prefix}" was created with 2 partitions; set REDISPATCH_PARTITIONS=2 (changing it would strand what the existing partitions hold)`,
    ]);
    expect((await ops.keys(`{${prefix}}*`)).sort()).toEqual(keysBefore);
    expect(await ops.zcard(createKeys(prefix).workers)).toBe(0);
  });

  it('stamps an unstamped deployment of an earlier version with the mode its keys show, and refuses the other mode', async () => {
    // What an earlier version leaves: lists keys (an epoch, a worker registry) and no stamp.
    const prefix = uniquePrefix('legacy');
    const keys = createKeys(prefix);
    await ops.set(keys.epoch, '7');
    await ops.zadd(keys.workers, 0, 'old-worker');
    const env = testEnv(server.url, prefix, { CHECK_DIR: mkdtempSync(join(dir, 'legacy-')) });

    const streams = await runCli(['worker', '--handler', CHECKER_HANDLER], {
      ...env,
      REDISPATCH_MODE: 'streams',
    });
    expect(streams.code, streams.output).toBe(2);
    expect(refusals(streams.lines)[0]).toMatch(
      lineFor('streams', prefix, 'lists', "not stamped yet; its keys are lists mode's"),
    );
    expect(await ops.exists(keys.deployment, keys.partitions)).toBe(0);

    const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER], env);
    processes.push(worker);
    await worker.waitForLog(/worker registered/);
    expect(JSON.parse((await ops.get(keys.deployment)) ?? '{}')).toMatchObject({ mode: 'lists', format: 1 });
    worker.kill('SIGTERM');
    expect((await worker.exited()).code).toBe(0);

    // An earlier streams deployment is known by its partition table.
    const older = uniquePrefix('legacy-s');
    await ops.set(createKeys(older).partitions, JSON.stringify([`${older}:0`, `${older}:1`]));
    const listsEnv = testEnv(server.url, older);
    const refused = await runCli(['dispatcher'], listsEnv);
    expect(refused.code, refused.output).toBe(2);
    expect(refusals(refused.lines)[0]).toMatch(
      lineFor('lists', older, 'streams', "not stamped yet; its keys are streams mode's"),
    );
    const joined = spawnCli(['dispatcher'], {
      ...listsEnv,
      REDISPATCH_MODE: 'streams',
      REDISPATCH_PARTITIONS: '2',
    });
    processes.push(joined);
    await joined.waitForLog(/"msg":"elected leader"/);
    expect(JSON.parse((await ops.get(createKeys(older).deployment)) ?? '{}')).toMatchObject({
      mode: 'streams',
      partitions: 2,
    });
  });
});

describe('connection settings that point at the wrong place', () => {
  it('refuses a database index the server does not have, naming REDISPATCH_REDIS_URL', async () => {
    const env = testEnv(`${server.url}/99`, uniquePrefix('db'));
    for (const args of [['stats'], ['worker', '--handler', CHECKER_HANDLER], ['dispatcher']]) {
      const result = await runCli(args, env);
      expect(result.code, result.output).toBe(2);
      expect(refusals(result.lines)).toEqual([
        `redispatch: REDISPATCH_REDIS_URL: database 99 does not exist on ${server.url}/99 (the server has databases 0 to 15; see its "databases" setting)`,
      ]);
    }
    // Nothing went to database 0 instead.
    expect(await ops.keys(`{${env.REDISPATCH_PREFIX}}*`)).toEqual([]);
  });

  it('refuses a REDISPATCH_CLUSTER_NODES seed that is not a cluster node, saying so', async () => {
    const env = testEnv(server.url, uniquePrefix('seed'), {
      REDISPATCH_MODE: 'streams',
      REDISPATCH_CLUSTER_NODES: `127.0.0.1:${server.port}`,
    });
    for (const args of [['stats'], ['dispatcher']]) {
      const result = await runCli(args, env);
      expect(result.code, result.output).toBe(2);
      expect(refusals(result.lines)).toEqual([
        `redispatch: REDISPATCH_CLUSTER_NODES: the Redis at 127.0.0.1:${server.port} is not in cluster mode (cluster_enabled:0); name Redis Cluster nodes there, or unset REDISPATCH_CLUSTER_NODES to use the single Redis at REDISPATCH_REDIS_URL`,
      ]);
    }
  });
});
