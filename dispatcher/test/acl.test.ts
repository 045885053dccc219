import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeys, Publisher } from '@redispatch/shared';
import { type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAclUsers } from './helpers/acl-users.js';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv } from './helpers/in-process.js';

// The ACL users come from the shipped generator (scripts/acl.mjs), loaded by redis-server as an ACL
// file with the default user disabled; every role then runs under its own user.
const PREFIX = `acl${process.pid}`;
const OTHER = `other${process.pid}`;
const CHANNEL = `${PREFIX}-in`;
const secret = (role: string) => `${role}-${Math.random().toString(36).slice(2)}`;
const PASSWORDS = {
  dispatcher: secret('d'),
  worker: secret('w'),
  admin: secret('a'),
  publisher: secret('p'),
  relay: secret('r'),
  lock: secret('l'),
};
const OPS_PASSWORD = secret('ops');
const keys = createKeys(PREFIX);
const other = createKeys(OTHER);

let dir = '';
let data: RedisHandle;
let lock: RedisHandle;
const processes: CliProcess[] = [];
const clients: Redis[] = [];

/** An ACL file of the generated users, the default user off, and an `ops` superuser for the checks. */
function aclFile(name: string, generated: string): string {
  const file = join(dir, `${name}.acl`);
  writeFileSync(file, `${generated}user default off\nuser ops on >${OPS_PASSWORD} ~* &* +@all\n`);
  return file;
}

function url(handle: RedisHandle, user: string, password: string): string {
  return `redis://${user}:${password}@127.0.0.1:${handle.port}`;
}

function client(handle: RedisHandle, user: string, password: string): Redis {
  const redis = new Redis({
    host: '127.0.0.1',
    port: handle.port,
    username: user,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  redis.on('error', () => {});
  clients.push(redis);
  return redis;
}

const NOPERM = /NOPERM|can't (run|access)/;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-acl-'));
  const dataUsers = generateAclUsers(
    ['--prefix', PREFIX, '--channel', CHANNEL, '--format', 'acl-file'],
    PASSWORDS,
  );
  const lockUsers = generateAclUsers(
    ['--prefix', PREFIX, '--target', 'lock', '--format', 'acl-file'],
    PASSWORDS,
  );
  // The generated file carries only SHA-256 hashes of the passwords.
  for (const password of Object.values(PASSWORDS)) expect(dataUsers + lockUsers).not.toContain(password);
  [data, lock] = await Promise.all([
    startRedisProcess({ args: ['--aclfile', aclFile('data', dataUsers)] }),
    startRedisProcess({ args: ['--aclfile', aclFile('lock', lockUsers)] }),
  ]);
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  for (const redis of clients) redis.disconnect();
  await Promise.all([data?.stop(), lock?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('least-privilege ACL users (scripts/acl.mjs)', () => {
  it('runs dispatchers, a worker, publish, stats and dlq each under its own user, with no ACL denial', async () => {
    const base = testEnv(url(data, 'unused', 'unused'), PREFIX, {
      REDISPATCH_CHANNEL: CHANNEL,
      REDISPATCH_MAX_PAYLOAD_BYTES: '200',
    });
    const checkDir = mkdtempSync(join(dir, 'check-'));
    const as = (role: keyof typeof PASSWORDS, extra: Record<string, string> = {}) => ({
      ...base,
      CHECK_DIR: checkDir,
      REDISPATCH_REDIS_URL: url(data, `${PREFIX}-${role}`, PASSWORDS[role]),
      ...extra,
    });
    const dispatcherEnv = as('dispatcher', {
      REDISPATCH_LOCK_URLS: url(lock, `${PREFIX}-lock`, PASSWORDS.lock),
      // Per-key limits on (keyed messages below): the worker's settle releases a key's next message.
      REDISPATCH_KEY_CONCURRENCY: '1',
      REDISPATCH_KEY_RATE_LIMIT: '200',
    });
    const dispatchers = [spawnCli(['dispatcher'], dispatcherEnv), spawnCli(['dispatcher'], dispatcherEnv)];
    // Results on: the worker XADDs each ack's result (its own selector), the admin tails them.
    const worker = spawnCli(
      ['worker', '--handler', CHECKER_HANDLER],
      as('worker', { REDISPATCH_RESULTS: 'stream' }),
    );
    processes.push(...dispatchers, worker);
    await worker.waitForLog(/worker registered/);
    await Promise.all(dispatchers.map((d) => d.waitForLog(/"msg":"standby"/)));
    await expect
      .poll(() => dispatchers.filter((d) => /"msg":"elected leader"/.test(d.output())).length, {
        timeout: 15_000,
      })
      .toBe(1);

    const publisher = as('publisher');
    const publish = await runCli(['publish', '--count', '300', '--size', '50', '--run-id', 'acl'], publisher);
    expect(publish.code, publish.output).toBe(0);
    const big = await runCli(['publish', '--count', '2', '--size', '300', '--run-id', 'big'], publisher);
    expect(big.code, big.output).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'acl', 300).lost, { timeout: 15_000 }).toBe(0);

    const admin = as('admin');
    await expect
      .poll(async () => JSON.parse((await runCli(['stats', '--json'], admin)).output).deadLetters, {
        timeout: 5_000,
      })
      .toBe(2);
    const stats = JSON.parse((await runCli(['stats', '--json'], admin)).output);
    // pause/resume as the admin user; the leader applies each under the dispatcher user (flowApply).
    for (const verb of ['pause', 'resume']) {
      const flow = await runCli([verb, '--json'], admin);
      expect(JSON.parse(flow.lines.at(-1) ?? '{}'), flow.output).toMatchObject({ applied: true });
    }
    expect(stats.totals).toMatchObject({ accepted: 302, acked: 300, deadLettered: 2 });
    expect(stats.leader).toMatchObject({ epoch: expect.any(Number) });
    const results = await runCli(['results', 'tail', '--json', '--from-start', '--count', '300'], admin);
    expect(results.code, results.output).toBe(0);
    expect(results.lines.filter((line) => line.startsWith('{'))).toHaveLength(300);
    const list = await runCli(['dlq', 'list'], admin);
    expect(list.code).toBe(0);
    expect(list.lines.filter((line) => line.includes('reason="oversize'))).toHaveLength(2);
    expect((await runCli(['dlq', 'purge', '--yes'], admin)).lines).toEqual(['purged 2 dead letter(s)']);

    // A failover under these users: the standby takes the lease on the lock master and the epoch.
    const leaderPid = stats.leader.pid as number;
    const leader = dispatchers.find((d) => d.pid === leaderPid);
    const standby = dispatchers.find((d) => d.pid !== leaderPid);
    leader?.kill('SIGTERM');
    await standby?.waitForLog(/"msg":"elected leader"/);
    const more = await runCli(['publish', '--count', '50', '--run-id', 'after'], publisher);
    expect(more.code).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'after', 50).lost, { timeout: 15_000 }).toBe(0);

    // Keyed messages through the per-key limits (docs/flow-control.md, Per-key limits): the leader's batch
    // write and keyRelease, the worker's claim and settle, each under its own user.
    const keyedRedis = client(data, `${PREFIX}-publisher`, PASSWORDS.publisher);
    await keyedRedis.connect();
    const keyed = new Publisher({ redis: keyedRedis, channel: CHANNEL });
    for (let i = 0; i < 60; i++) await keyed.publish(`keyed:${i}:x`, { affinityKey: `acct-${i % 5}` });
    await expect.poll(() => checkRun(checkDir, 'keyed', 60).lost, { timeout: 15_000 }).toBe(0);

    // A schedule added and removed as the admin user; the leader fires it under the dispatcher user.
    const added = await runCli(['schedule', 'add', 'acl-tick', '--every', '200', '--body', 'tick'], admin);
    expect(added.code, added.output).toBe(0);
    const runs = async () => {
      const listed = JSON.parse((await runCli(['schedule', 'list', '--json'], admin)).output) as {
        runs: number;
      }[];
      return listed[0]?.runs ?? 0;
    };
    await expect.poll(runs, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    expect((await runCli(['schedule', 'remove', 'acl-tick'], admin)).code).toBe(0);

    // Nothing any role did was refused: the rules cover every command the code sends.
    const ops = client(data, 'ops', OPS_PASSWORD);
    await ops.connect();
    const denials = (await ops.call('ACL', 'LOG')) as unknown[];
    expect(denials).toEqual([]);
    // The first process stamped the deployment under its own user (guarantee 8).
    expect(JSON.parse((await ops.get(keys.deployment)) ?? '{}')).toMatchObject({ mode: 'lists', format: 1 });
    const lockOps = client(lock, 'ops', OPS_PASSWORD);
    await lockOps.connect();
    expect(await lockOps.call('ACL', 'LOG')).toEqual([]);
    for (const proc of [...dispatchers, worker]) {
      expect(proc.output()).not.toMatch(/NOPERM/);
      for (const password of Object.values(PASSWORDS)) expect(proc.output()).not.toContain(password);
    }
  });

  it('refuses the worker user everything only a dispatcher or an operator may do', async () => {
    const worker = client(data, `${PREFIX}-worker`, PASSWORDS.worker);
    await worker.connect();
    // What a worker needs still works (so the refusals below are about the rule, not the login).
    expect(await worker.hget(keys.body, 'nothing')).toBeNull();
    expect(await worker.call('TIME')).toHaveLength(2);
    const refused: [string, () => Promise<unknown>][] = [
      ['SET the epoch', () => worker.set(keys.epoch, '999')],
      ['INCR the epoch', () => worker.incr(keys.epoch)],
      ['read the progress marker', () => worker.get(keys.progress)],
      ['read the epoch (it may only test that it exists)', () => worker.get(keys.epoch)],
      ['SET the partition table', () => worker.set(keys.partitions, '[]')],
      ['write the leader record', () => worker.hset(keys.leader, 'id', 'evil')],
      ['take the lease', () => worker.hset(keys.leaseLock, 'x', '1')],
      [
        'write the leader record from a script',
        () => worker.eval("return redis.call('HSET', KEYS[1], 'id', 'evil')", 1, keys.leader),
      ],
      ['raise the epoch from a script', () => worker.eval(`return redis.call('INCR', '${keys.epoch}')`, 0)],
      ['write a dedupe key', () => worker.hset(`${keys.tag}:dedupe:x`, 'a', '1')],
      ['PUBLISH on the control channel', () => worker.publish(keys.controlChannel, 'resigned')],
      ['PUBLISH into the ingress channel', () => worker.publish(CHANNEL, 'forged')],
      ['touch another prefix', () => worker.lpop(other.queue('w1'))],
      ['FLUSHALL', () => worker.flushall()],
      ['CONFIG GET', () => worker.config('GET', 'requirepass')],
      ['KEYS', () => worker.keys('*')],
      ['SCRIPT FLUSH', () => worker.script('FLUSH')],
      ['ACL LIST', () => worker.call('ACL', 'LIST')],
      ['DEL', () => worker.del(keys.body)],
    ];
    for (const [what, attempt] of refused) {
      await expect(attempt(), what).rejects.toThrow(NOPERM);
    }
    const subscriber = client(data, `${PREFIX}-worker`, PASSWORDS.worker);
    await subscriber.connect();
    await expect(subscriber.subscribe(CHANNEL), 'SUBSCRIBE to the ingress').rejects.toThrow(NOPERM);
  });

  it('keeps the dispatcher, admin and publisher users inside their prefix and channels', async () => {
    const dispatcher = client(data, `${PREFIX}-dispatcher`, PASSWORDS.dispatcher);
    const admin = client(data, `${PREFIX}-admin`, PASSWORDS.admin);
    const publisher = client(data, `${PREFIX}-publisher`, PASSWORDS.publisher);
    await Promise.all([dispatcher.connect(), admin.connect(), publisher.connect()]);
    expect(Number(await dispatcher.get(keys.epoch))).toBeGreaterThan(0);
    // Allowed, and heard: the dispatchers (users of their own ACL) are subscribed to the ingress channel.
    expect(await publisher.publish(CHANNEL, 'allowed')).toBeGreaterThan(0);
    const refused: [string, () => Promise<unknown>][] = [
      ['dispatcher: read another prefix', () => dispatcher.get(other.epoch)],
      ['dispatcher: write another prefix', () => dispatcher.set(other.epoch, '1')],
      [
        'dispatcher: another prefix from a script',
        () => dispatcher.eval("return redis.call('INCR', KEYS[1])", 1, other.epoch),
      ],
      ['dispatcher: PUBLISH into the ingress channel', () => dispatcher.publish(CHANNEL, 'forged')],
      [
        "dispatcher: another deployment's control channel",
        () => dispatcher.publish(other.controlChannel, 'x'),
      ],
      ['dispatcher: FLUSHALL', () => dispatcher.flushall()],
      ['dispatcher: SCRIPT FLUSH', () => dispatcher.script('FLUSH')],
      ['dispatcher: CONFIG SET', () => dispatcher.config('SET', 'maxmemory', '1')],
      ['dispatcher: KEYS', () => dispatcher.keys('*')],
      ['admin: raise the epoch', () => admin.incr(keys.epoch)],
      ['admin: PUBLISH', () => admin.publish(keys.controlChannel, 'resigned')],
      ['admin: another prefix', () => admin.zcard(other.dlq)],
      ['publisher: read a key', () => publisher.get(keys.epoch)],
      ['publisher: the control channel', () => publisher.publish(keys.controlChannel, 'resigned')],
    ];
    for (const [what, attempt] of refused) {
      await expect(attempt(), what).rejects.toThrow(NOPERM);
    }
  });
});
