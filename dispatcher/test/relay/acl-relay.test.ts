import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeys, newSessionId, Publisher, relayAddress } from '@redispatch/shared';
import { freePort, type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAclUsers } from '../helpers/acl-users.js';
import { type CliProcess, runCli, spawnCli } from '../helpers/cli-process.js';
import { testEnv } from '../helpers/in-process.js';
import { connect, REPLY_HANDLER } from '../helpers/relay-stack.js';

// The relay under its generated least-privilege user (lists mode, one redis-server with the ACL
// file, default user off), next to a dispatcher and a replying worker under theirs: WebSocket and
// HTTP replies work, and the relay user cannot touch worker queues, message state or dispatcher keys.
const PREFIX = `aclr${process.pid}`;
const OTHER = `otherr${process.pid}`;
const CHANNEL = `${PREFIX}-in`;
const RELAY_ID = `relay-${PREFIX}`;
const secret = (role: string) => `${role}-${Math.random().toString(36).slice(2)}`;
const PASSWORDS = {
  dispatcher: secret('d'),
  worker: secret('w'),
  admin: secret('a'),
  publisher: secret('p'),
  relay: secret('r'),
};
type Role = keyof typeof PASSWORDS;
const OPS_PASSWORD = secret('ops');
const keys = createKeys(PREFIX);
const other = createKeys(OTHER);
const NOPERM = /NOPERM|can't (run|access)/;

let dir = '';
let redis: RedisHandle;
let http: Server;
let httpPort = 0;
const posted: string[] = [];
const processes: CliProcess[] = [];
const clients: Redis[] = [];

const user = (role: Role) => `${PREFIX}-${role}`;
const url = (role: Role) => `redis://${user(role)}:${PASSWORDS[role]}@127.0.0.1:${redis.port}`;

function client(username: string, password: string): Redis {
  const connection = new Redis({
    host: '127.0.0.1',
    port: redis.port,
    username,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  connection.on('error', () => {});
  clients.push(connection);
  return connection;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-acl-relay-'));
  const generated = generateAclUsers(
    ['--prefix', PREFIX, '--channel', CHANNEL, '--format', 'acl-file'],
    PASSWORDS,
  );
  expect(generated).toContain(`user ${user('relay')} on #`);
  const file = join(dir, 'data.acl');
  writeFileSync(file, `${generated}user default off\nuser ops on >${OPS_PASSWORD} ~* &* +@all\n`);
  redis = await startRedisProcess({ args: ['--aclfile', file] });
  httpPort = await freePort();
  http = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      posted.push(body);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(httpPort, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  for (const connection of clients) connection.disconnect();
  await new Promise((resolve) => http?.close(resolve));
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the relay under its least-privilege ACL user', () => {
  it('delivers WebSocket and HTTP replies with every role under its own user, with no ACL denial', async () => {
    const relayPort = await freePort();
    const base = testEnv('redis://unused', PREFIX, { REDISPATCH_CHANNEL: CHANNEL });
    const as = (role: Role, extra: Record<string, string> = {}) => ({
      ...base,
      REDISPATCH_REDIS_URL: url(role),
      ...extra,
    });
    const dispatcher = spawnCli(['dispatcher'], as('dispatcher'));
    const worker = spawnCli(['worker', '--handler', REPLY_HANDLER], as('worker'));
    const relay = spawnCli(
      ['relay'],
      as('relay', {
        REDISPATCH_INSTANCE_ID: RELAY_ID,
        REDISPATCH_RELAY_PORT: String(relayPort),
        REDISPATCH_RELAY_HOST: '127.0.0.1',
        REDISPATCH_RELAY_HTTP: 'true',
        REDISPATCH_HTTP_ALLOW: `http://127.0.0.1:${httpPort}/reply`,
        REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
      }),
    );
    processes.push(dispatcher, worker, relay);
    await Promise.all([
      dispatcher.waitForLog(/"msg":"elected leader"/, 20_000),
      worker.waitForLog(/worker registered/),
      relay.waitForLog(/relay listening/),
    ]);

    const socket = await connect(relayPort);
    socket.ws.send('hello');
    socket.ws.send(Buffer.from([0xfe, 0x00, 0x01]), { binary: true });
    await expect.poll(() => socket.received.length, { timeout: 15_000 }).toBe(2);
    expect(socket.received.map((r) => r.data.toString('latin1')).sort()).toEqual([
      're:hello',
      `re:${Buffer.from([0xfe, 0x00, 0x01]).toString('latin1')}`,
    ]);

    // The dispatcher's subscription drops (as in a Redis restart): it steps down, records the first
    // message it hears after the gap (MULTI HSET PEXPIRE EXEC on `resumed`), compares (HGETALL) and
    // leads again, all under its user. Frames sent before it is back are unrouted, so keep sending.
    const ops = client('ops', OPS_PASSWORD);
    await ops.connect();
    await ops.client('KILL', 'TYPE', 'pubsub');
    await expect
      .poll(
        () => {
          socket.ws.send('after-gap');
          return socket.received.some((r) => r.data.toString() === 're:after-gap');
        },
        { timeout: 20_000, interval: 250 },
      )
      .toBe(true);
    expect(dispatcher.output()).toMatch(/resubscribed after a gap/);
    expect(dispatcher.output()).not.toMatch(/could not record the first message heard after the gap/);
    await socket.close();

    // An HTTP reply (the relay's deliverer) and one to a relay that never registered (dead-lettered
    // by the worker), published by the publisher user.
    const producer = client(user('publisher'), PASSWORDS.publisher);
    await producer.connect();
    const publisher = new Publisher({ redis: producer, channel: CHANNEL });
    await publisher.publish('to-http', { replyTo: `http://127.0.0.1:${httpPort}/reply` });
    await publisher.publish('to-nobody', { replyTo: relayAddress('never-registered', newSessionId()) });
    await expect.poll(() => posted, { timeout: 15_000 }).toEqual(['re:to-http']);

    // A relay gone long past the retention period, with a queued reply and a session: the live relay's
    // sweep (its heartbeat) dead-letters the reply and deletes the ghost's keys under the relay user.
    await ops.zadd(keys.relays, 1, 'ghost');
    await ops.lpush(keys.outbound('relay:ghost'), '1:ghost-entry');
    await ops.hset(keys.relaySessions('ghost'), newSessionId(), '0');
    await expect.poll(() => ops.zscore(keys.relays, 'ghost'), { timeout: 10_000 }).toBeNull();
    expect(await ops.exists(keys.outbound('relay:ghost'), keys.relaySessions('ghost'))).toBe(0);

    const admin = as('admin');
    await expect
      .poll(async () => (await runCli(['outbound-dlq', 'list'], admin)).output, { timeout: 10_000 })
      .toMatch(/unknown_relay[\s\S]*relay_gone|relay_gone[\s\S]*unknown_relay/);
    const purge = await runCli(['outbound-dlq', 'purge', '--yes'], admin);
    expect(purge.lines, purge.output).toEqual(['purged 2 undeliverable reply(ies)']);

    expect(await ops.call('ACL', 'LOG')).toEqual([]);
    for (const proc of [dispatcher, worker, relay]) {
      expect(proc.output()).not.toMatch(/NOPERM/);
      for (const password of Object.values(PASSWORDS)) expect(proc.output()).not.toContain(password);
    }
  });

  it('refuses the relay user worker queues, message state, dispatcher keys and other prefixes', async () => {
    const relay = client(user('relay'), PASSWORDS.relay);
    await relay.connect();
    // What a relay needs still works (so the refusals below are about the rule, not the login).
    expect(await relay.zscore(keys.relays, RELAY_ID)).not.toBeNull();
    expect(await relay.hgetall(keys.relaySessions(RELAY_ID))).toBeTypeOf('object');
    const refused: [string, () => Promise<unknown>][] = [
      ['push into a worker queue', () => relay.lpush(keys.queue('w1'), 'forged')],
      [
        'take from a worker queue',
        () => relay.lmove(keys.queue('w1'), keys.outbound('http'), 'RIGHT', 'LEFT'),
      ],
      ['register a worker', () => relay.zadd(keys.workers, Date.now(), 'evil')],
      ['read a message body', () => relay.hgetall(keys.body)],
      ['the in-flight set', () => relay.zadd(keys.inflight, 1, 'x')],
      ['the message dead letters', () => relay.lpush(keys.dlq, 'x')],
      ['read the epoch', () => relay.get(keys.epoch)],
      ['write the leader record', () => relay.hset(keys.leader, 'id', 'evil')],
      ['the progress marker', () => relay.del(keys.progress)],
      ['the lease', () => relay.del(keys.leaseLock)],
      [
        'a dispatcher key from a script',
        () => relay.eval("return redis.call('DEL', KEYS[1])", 1, keys.epoch),
      ],
      ['PUBLISH on the control channel', () => relay.publish(keys.controlChannel, 'resigned')],
      ['another prefix', () => relay.zadd(other.relays, 1, 'r')],
      ['FLUSHALL', () => relay.flushall()],
      ['KEYS', () => relay.keys('*')],
    ];
    for (const [what, attempt] of refused) {
      await expect(attempt(), what).rejects.toThrow(NOPERM);
    }
    const subscriber = client(user('relay'), PASSWORDS.relay);
    await subscriber.connect();
    await expect(subscriber.subscribe(CHANNEL), 'SUBSCRIBE to the ingress').rejects.toThrow(NOPERM);

    // And the worker user cannot act as a relay: it may queue replies but not take them.
    const worker = client(user('worker'), PASSWORDS.worker);
    await worker.connect();
    await expect(
      worker.lmove(
        keys.outbound(`relay:${RELAY_ID}`),
        keys.outboundProcessing(`relay:${RELAY_ID}`, RELAY_ID),
        'RIGHT',
        'LEFT',
      ),
      'worker: take a relay queue',
    ).rejects.toThrow(NOPERM);
    await expect(
      worker.hset(keys.relaySessions(RELAY_ID), 's', '0'),
      'worker: relay sessions',
    ).rejects.toThrow(NOPERM);
  });
});
