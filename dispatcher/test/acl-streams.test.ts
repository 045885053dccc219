import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDataConnection,
  createKeys,
  type DataClient,
  type PartitionKeys,
  Publisher,
  partitionKeys,
} from '@redispatch/shared';
import { freePort, type RedisClusterHandle, startRedisCluster } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectOnEveryNode, denialsOf, generateAclUsers } from './helpers/acl-users.js';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv } from './helpers/in-process.js';
import { connect, REPLY_HANDLER } from './helpers/relay-stack.js';

// Streams mode under the generated least-privilege users (scripts/acl.mjs --mode streams) on a real
// Redis Cluster of 3 masters with a replica each. ACL users are per node, so every node loads the
// same ACL file (default user off); the harness itself connects as an `ops` superuser. The cluster
// bus needs no user, but a replica does (it connects to its master as a client): a `replicator`
// user with only what replication sends, given as masteruser/masterauth.
const PREFIX = `acls${process.pid}`;
const OTHER = `others${process.pid}`;
const CHANNEL = `${PREFIX}-in`;
const secret = (role: string) => `${role}-${Math.random().toString(36).slice(2)}`;
const PASSWORDS = {
  dispatcher: secret('d'),
  worker: secret('w'),
  admin: secret('a'),
  publisher: secret('p'),
  relay: secret('r'),
};
type Role = keyof typeof PASSWORDS;
const OPS = { username: 'ops', password: secret('ops') };
const REPLICATOR_PASSWORD = secret('repl');
const keys = createKeys(PREFIX);
const other = createKeys(OTHER);
const NOPERM = /NOPERM|can't (run|access)/;

let dir = '';
let cluster: RedisClusterHandle;
const processes: CliProcess[] = [];
const clients: (DataClient | Redis)[] = [];

const firstNode = () => cluster.nodes[0] as { port: number };
const user = (role: Role) => `${PREFIX}-${role}`;
const url = (role: Role) => `redis://${user(role)}:${PASSWORDS[role]}@127.0.0.1:${firstNode().port}`;

/** A cluster client logged in as `role`, with our scripts defined (so it can try the leader's). */
async function clusterAs(role: Role | 'ops'): Promise<DataClient> {
  const client = createDataConnection('command', {
    url: role === 'ops' ? `redis://ops:${OPS.password}@127.0.0.1:${firstNode().port}` : url(role),
    clusterNodes: cluster.seeds.split(','),
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: `acl-probe-${role}`,
  });
  clients.push(client);
  await client.connect();
  return client;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-acl-streams-'));
  const generated = generateAclUsers(
    ['--mode', 'streams', '--prefix', PREFIX, '--channel', CHANNEL, '--format', 'acl-file'],
    PASSWORDS,
  );
  for (const password of Object.values(PASSWORDS)) expect(generated).not.toContain(password);
  const file = join(dir, 'cluster.acl');
  writeFileSync(
    file,
    `${generated}user default off\nuser ops on >${OPS.password} ~* &* +@all\n` +
      `user replicator on >${REPLICATOR_PASSWORD} +psync +replconf +ping\n`,
  );
  cluster = await startRedisCluster({
    masters: 3,
    replicasPerMaster: 1,
    args: ['--aclfile', file, '--masteruser', 'replicator', '--masterauth', REPLICATOR_PASSWORD],
    auth: OPS,
  });
}, 90_000);
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  for (const client of clients) client.disconnect();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('least-privilege ACL users in streams mode (scripts/acl.mjs --mode streams)', () => {
  // Its own time budget (150 s): a whole deployment under six users, every command (38-57 s when loaded).
  it('runs dispatchers, a worker, publish, stats, dlq and a relay each under its own user on a cluster, with no ACL denial on any node', async () => {
    const checkDir = mkdtempSync(join(dir, 'check-'));
    const base = testEnv('redis://unused', PREFIX, {
      REDISPATCH_MODE: 'streams',
      REDISPATCH_CLUSTER_NODES: cluster.seeds,
      REDISPATCH_CHANNEL: CHANNEL,
      REDISPATCH_MAX_PAYLOAD_BYTES: '200',
      // Every batch and the epoch wait for a replica (WAIT, on the master's own connection).
      REDISPATCH_WAIT_REPLICAS: '1',
      // A per-key rate: the leader holds a key's messages in the partition's slot and releases them
      // (streamAppend's gate, streamKeyRelease) under the dispatcher user.
      REDISPATCH_KEY_RATE_LIMIT: '5',
      REDISPATCH_KEY_RATE_BURST: '1',
      CHECK_DIR: checkDir,
    });
    const as = (role: Role, extra: Record<string, string> = {}) => ({
      ...base,
      REDISPATCH_REDIS_URL: url(role),
      ...extra,
    });
    // The worker starts first: it may only read the partition table, so it waits for a dispatcher
    // to write it instead of writing it itself.
    // Results on: the worker XADDs each ack's result (its own selector), the admin tails them.
    let worker = spawnCli(
      ['worker', '--handler', CHECKER_HANDLER],
      as('worker', { REDISPATCH_RESULTS: 'stream' }),
    );
    processes.push(worker);
    // No REDISPATCH_LOCK_URLS: the lease lives on the cluster, under the dispatcher user.
    const dispatchers = [
      spawnCli(['dispatcher'], as('dispatcher')),
      spawnCli(['dispatcher'], as('dispatcher')),
    ];
    processes.push(...dispatchers);
    await worker.waitForLog(/worker registered/, 30_000);
    await Promise.all(dispatchers.map((d) => d.waitForLog(/"msg":"standby"/, 30_000)));
    await expect
      .poll(() => dispatchers.filter((d) => /"msg":"elected leader"/.test(d.output())).length, {
        timeout: 20_000,
      })
      .toBe(1);

    const publisher = as('publisher');
    const publish = await runCli(['publish', '--count', '300', '--size', '50', '--run-id', 'acl'], publisher);
    expect(publish.code, publish.output).toBe(0);
    const big = await runCli(['publish', '--count', '2', '--size', '300', '--run-id', 'big'], publisher);
    expect(big.code, big.output).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'acl', 300).lost, { timeout: 20_000 }).toBe(0);

    const admin = as('admin');
    await expect
      .poll(async () => JSON.parse((await runCli(['stats', '--json'], admin)).output).deadLetters, {
        timeout: 10_000,
      })
      .toBe(2);
    // Acks are flushed after the handler's record is written: wait for the last flush.
    await expect
      .poll(async () => JSON.parse((await runCli(['stats', '--json'], admin)).output).totals.acked, {
        timeout: 10_000,
      })
      .toBe(300);
    const stats = JSON.parse((await runCli(['stats', '--json'], admin)).output);
    // pause/resume as the admin user; the leader applies each under the dispatcher user (flowApply).
    for (const verb of ['pause', 'resume']) {
      const flow = await runCli([verb, '--json'], admin);
      expect(JSON.parse(flow.lines.at(-1) ?? '{}'), flow.output).toMatchObject({ applied: true });
    }
    expect(stats).toMatchObject({ mode: 'streams' });
    expect(stats.totals).toMatchObject({ accepted: 302, acked: 300, deadLettered: 2 });
    const results = await runCli(
      ['results', 'tail', '--json', '--from-start', '--count', '300'],
      admin,
      10_000,
    );
    expect(results.code, results.output).toBe(0);
    expect(results.lines.filter((line) => line.startsWith('{'))).toHaveLength(300);
    const list = await runCli(['dlq', 'list'], admin);
    expect(list.code, list.output).toBe(0);
    expect(list.lines.filter((line) => line.includes('reason="oversize'))).toHaveLength(2);
    expect((await runCli(['dlq', 'purge', '--yes'], admin)).lines).toEqual(['purged 2 dead letter(s)']);

    // A failover: the standby takes the lease on the cluster and raises every partition fence.
    const leader = dispatchers.find((d) => d.pid === stats.leader.pid);
    const standby = dispatchers.find((d) => d.pid !== stats.leader.pid);
    leader?.kill('SIGTERM');
    await standby?.waitForLog(/"msg":"elected leader"/, 20_000);
    const more = await runCli(['publish', '--count', '50', '--run-id', 'after'], publisher);
    expect(more.code, more.output).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'after', 50).lost, { timeout: 20_000 }).toBe(0);

    // Six messages of one affinity key: one goes at once, five wait for the key's tokens (5/s).
    await new Publisher({ redis: await clusterAs('publisher'), channel: CHANNEL }).publishBatch(
      Array.from({ length: 6 }, (_, seq) => ({
        body: `keyed:${seq}:x`,
        options: { affinityKey: 'acl-key' },
      })),
    );
    await expect.poll(() => checkRun(checkDir, 'keyed', 6).lost, { timeout: 20_000 }).toBe(0);

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

    // The relay under its own user: a WebSocket round trip through the dispatcher and a worker that
    // replies (the checker worker leaves first, so the frames go to the replying one).
    worker.kill('SIGTERM');
    await worker.exited();
    // One attempt only, so a handler that outlives the ack timeout is dead-lettered at once (the
    // settle or reclaim script's XADD into the partition's dlq stream: the only XADD a worker may send).
    worker = spawnCli(['worker', '--handler', REPLY_HANDLER], as('worker', { REDISPATCH_MAX_ATTEMPTS: '1' }));
    processes.push(worker);
    await worker.waitForLog(/worker registered/, 30_000);
    const relayPort = await freePort();
    const relay = spawnCli(
      ['relay'],
      as('relay', {
        REDISPATCH_INSTANCE_ID: `relay-${PREFIX}`,
        REDISPATCH_RELAY_PORT: String(relayPort),
        REDISPATCH_RELAY_HOST: '127.0.0.1',
        REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
        // The relay keeps room for its envelope below this; 200 (the dispatchers') would leave none.
        REDISPATCH_MAX_PAYLOAD_BYTES: '1000',
      }),
    );
    processes.push(relay);
    await relay.waitForLog(/relay listening/, 30_000);
    const socket = await connect(relayPort);
    socket.ws.send('hello');
    await expect.poll(() => socket.received.length, { timeout: 15_000 }).toBe(1);
    expect(socket.received[0]?.data.toString()).toBe('re:hello');
    await socket.close();
    const outbound = await runCli(['outbound-dlq', 'list'], admin);
    expect(outbound.code, outbound.output).toBe(0);

    // A handler that outlives the ack timeout (2 s here): dead-lettered by the worker.
    const producer = await clusterAs('publisher');
    await new Publisher({ redis: producer, channel: CHANNEL }).publish('slow:3000');
    await expect
      .poll(async () => JSON.parse((await runCli(['stats', '--json'], admin)).output).deadLetters, {
        timeout: 15_000,
      })
      .toBe(1);
    const dead = (await runCli(['dlq', 'list'], admin)).output;
    expect(dead, dead).toMatch(/attempts=1/);

    // Nothing any role did was refused on any node: the rules cover every command the code sends.
    // One refusal is by design: the worker started first and tried to write the partition table,
    // which it may only read (it then waited for a dispatcher to write it). Redis logs it as a refused
    // command, or as a refused key now that a selector lets the worker SET its deployment stamp.
    const denials = [];
    let linkedReplicas = 0;
    for (const ops of await connectOnEveryNode(cluster.nodes, OPS, clients)) {
      denials.push(...denialsOf(await ops.call('ACL', 'LOG')));
      // Each replica replicates under the replicator user (WAIT above depended on it).
      if ((await ops.info('replication')).includes('master_link_status:up')) linkedReplicas += 1;
    }
    expect(linkedReplicas).toBe(3);
    const unexpected = denials.filter(
      (d) => !(d.username === user('worker') && (d.object === 'set' || d.object === keys.partitions)),
    );
    expect(unexpected.map((d) => `${d.username} ${d.reason} ${d.object}`)).toEqual([]);
    // The stamp, written under a least-privilege user (the worker's or a dispatcher's), read by the admin's.
    const stamp = await (await clusterAs('admin')).get(keys.deployment);
    expect(JSON.parse(stamp ?? '{}')).toMatchObject({
      mode: 'streams',
      partitions: expect.any(Number),
      format: 1,
    });
    for (const proc of [...dispatchers, worker, relay]) {
      expect(proc.output()).not.toMatch(/NOPERM/);
      for (const password of Object.values(PASSWORDS)) expect(proc.output()).not.toContain(password);
    }
  }, 150_000);

  it('replays a prioritized dead letter into its priority stream as the admin user', async () => {
    const admin = await clusterAs('admin');
    const p = partitionKeys(0, (JSON.parse((await admin.get(keys.partitions)) ?? '[]') as string[])[0] ?? '');
    // As ops: the priority stream (as an append makes it) and a dead letter with its level.
    const ops = await clusterAs('ops');
    await ops.xgroup('CREATE', p.priorityStream, 'workers', '$', 'MKSTREAM');
    const dead = await ops.xadd(p.dlq, '*', 'i', 'prio-dead', 'p', 'x', 'r', 'boom', 'a', '3', 'q', '7');
    const env = { REDISPATCH_MODE: 'streams', REDISPATCH_CLUSTER_NODES: cluster.seeds };
    const replay = await runCli(['dlq', 'replay', 'prio-dead'], testEnv(url('admin'), PREFIX, env));
    expect(replay.code, replay.output).toBe(0);
    // The running worker may take and the leader trim it by now: count what was ever added.
    const info = (await ops.xinfo('STREAM', p.priorityStream)) as unknown[];
    expect(info[info.indexOf('entries-added') + 1]).toBe(1);
    // That dead letter is gone (the running worker may dead-letter the replayed 'x' again, as a new entry).
    expect(await ops.xrange(p.dlq, dead ?? '', dead ?? '')).toEqual([]);
  });

  it('refuses the worker user every write only a dispatcher may make, and other prefixes', async () => {
    const worker = await clusterAs('worker');
    const table = JSON.parse((await worker.get(keys.partitions)) ?? '[]') as string[];
    expect(table.length).toBeGreaterThan(1);
    const partitions: PartitionKeys[] = table.map((tag, index) => partitionKeys(index, tag));
    const p = partitions[0] as PartitionKeys;
    // What a worker needs still works (so the refusals below are about the rule, not the login).
    expect(await worker.xpending(p.stream, 'workers')).toHaveLength(4);
    const refused: [string, () => Promise<unknown>][] = [
      ['XADD into a partition stream', () => worker.xadd(p.stream, '*', 'i', 'forged', 'p', 'x')],
      ...partitions.map((q, i): [string, () => Promise<unknown>] => [
        `XADD into partition ${i} from a script`,
        () => worker.eval("return redis.call('XADD', KEYS[1], '*', 'i', 'x')", 1, q.stream),
      ]),
      [
        'XADD into a priority stream from a script',
        () => worker.eval("return redis.call('XADD', KEYS[1], '*', 'i', 'x')", 1, p.priorityStream),
      ],
      ['SET a partition fence', () => worker.set(p.fence, '999')],
      ['read a partition fence', () => worker.get(p.fence)],
      ['SET the epoch', () => worker.set(keys.epoch, '999')],
      ['INCR the epoch', () => worker.incr(keys.epoch)],
      ['write the leader record', () => worker.hset(keys.leader, 'id', 'evil')],
      ['rewrite the partition table', () => worker.set(keys.partitions, '["evil"]')],
      ['write a progress marker', () => worker.set(p.progress, '9 9 x')],
      ['write a dedupe key', () => worker.set(`${p.dedupePrefix}x`, '1')],
      ['take the lease', () => worker.set(keys.leaseLock, 'x')],
      [
        "run the leader's append script",
        () =>
          worker.rdStreamAppend(
            p.fence,
            p.stream,
            p.applied,
            p.progress,
            p.delayed,
            p.delayedBody,
            p.dlq,
            p.totals,
            p.delayedAttempts,
            p.priorityStream,
            '1',
            '1:1',
            '',
            'workers',
            1000,
            p.dedupePrefix,
            1,
            0,
            'forged',
            'x',
            '',
            '',
          ),
      ],
      ["run the leader's fence script", () => worker.rdStreamFence(p.fence, p.stream, 999_999, 'workers')],
      ['XGROUP SETID', () => worker.xgroup('SETID', p.stream, 'workers', '$')],
      ['XGROUP DESTROY', () => worker.xgroup('DESTROY', p.stream, 'workers')],
      ['XTRIM a partition', () => worker.xtrim(p.stream, 'MAXLEN', 0)],
      ['DEL a partition', () => worker.del(p.stream)],
      ['PUBLISH on the control channel', () => worker.publish(keys.controlChannel, 'resigned')],
      ['PUBLISH into the ingress channel', () => worker.publish(CHANNEL, 'forged')],
      ['another prefix: its registry', () => worker.zadd(other.workers, 1, 'w')],
      ['another prefix: its dead letters', () => worker.xadd(`{${OTHER}:0}:dlq`, '*', 'i', 'x')],
      ['another prefix: its partition', () => worker.xack(`{${OTHER}:0}:s`, 'workers', '1-1')],
      ['FLUSHALL', () => worker.flushall()],
      ['KEYS', () => worker.keys('*')],
      ['CONFIG GET', () => worker.config('GET', 'requirepass')],
      ['CLUSTER RESET', () => worker.cluster('RESET')],
    ];
    for (const [what, attempt] of refused) {
      await expect(attempt(), what).rejects.toThrow(NOPERM);
    }
  });

  it('keeps the relay, dispatcher and publisher users off what is not theirs', async () => {
    const [relay, dispatcher, publisher] = await Promise.all([
      clusterAs('relay'),
      clusterAs('dispatcher'),
      clusterAs('publisher'),
    ]);
    const p = partitionKeys(
      0,
      (JSON.parse((await dispatcher.get(keys.partitions)) ?? '[]') as string[])[0] ?? '',
    );
    expect(await relay.zscore(keys.relays, `relay-${PREFIX}`)).not.toBeNull();
    const refused: [string, () => Promise<unknown>][] = [
      ['relay: XADD into a partition', () => relay.xadd(p.stream, '*', 'i', 'x')],
      ['relay: the worker registry', () => relay.zadd(keys.workers, 1, 'w')],
      ['relay: the epoch', () => relay.get(keys.epoch)],
      ['relay: the control channel', () => relay.publish(keys.controlChannel, 'resigned')],
      ['relay: another prefix', () => relay.zadd(other.relays, 1, 'r')],
      ['dispatcher: another prefix', () => dispatcher.set(other.epoch, '1')],
      ['dispatcher: another prefix partition', () => dispatcher.xadd(`{${OTHER}:0}:s`, '*', 'i', 'x')],
      ['dispatcher: PUBLISH into the ingress channel', () => dispatcher.publish(CHANNEL, 'forged')],
      ['dispatcher: FLUSHALL', () => dispatcher.flushall()],
      ['dispatcher: XGROUP DESTROY', () => dispatcher.xgroup('DESTROY', p.stream, 'workers')],
      ['publisher: read a key', () => publisher.get(keys.partitions)],
      ['publisher: the control channel', () => publisher.publish(keys.controlChannel, 'resigned')],
    ];
    for (const [what, attempt] of refused) {
      await expect(attempt(), what).rejects.toThrow(NOPERM);
    }
  });
});
