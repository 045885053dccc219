import { createKeys, framePayload, loadPartitions, scripts, withAttemptLink } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { lookUpListsMessage } from '../../src/console/message-lookup.js';
import { CHECKER_HANDLER, runCli } from '../helpers/cli-process.js';
import { call, startConsole } from '../helpers/console-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// GET /api/messages/<id> finds a message in each state it can be in, in both modes, against a real
// dispatcher and a worker whose handler takes a minute (so what it holds stays in flight).
const fx = useProcessFixture();
const b64 = (text: string) => Buffer.from(text).toString('base64');
type Json = Record<string, unknown>;

const slowEnv = (prefix: string, extra: Record<string, string> = {}) => ({
  ...testEnv(fx.redis.url, prefix, {
    REDISPATCH_MAX_ATTEMPTS: '1',
    REDISPATCH_MAX_PAYLOAD_BYTES: '64',
    REDISPATCH_ACK_TIMEOUT_MS: '120000',
    REDISPATCH_QUEUE_HIGH_WATER: '1',
    REDISPATCH_CONCURRENCY: '1',
    ...extra,
  }),
  CHECK_DIR: fx.tempDir(prefix),
  CHECK_DELAY_MS: '60000',
});

const lookUp = async (base: string, id: string) =>
  (await call(base, `/api/messages/${encodeURIComponent(id)}`)).json;

describe('console message lookup', () => {
  it('lists mode: in flight (worker, deadline), queued (whose queue), backlog, delayed, dead, unknown', async () => {
    const prefix = uniquePrefix('clook');
    const keys = createKeys(prefix);
    const env = slowEnv(prefix);
    const workerId = `${prefix}-w`;
    fx.spawn(['dispatcher'], env);
    const worker = fx.spawn(['worker', '--instance-id', workerId, '--handler', CHECKER_HANDLER], env);
    await worker.waitForLog(/worker registered/);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(1);
    const c = await startConsole(fx, env);

    // One at a time, so each lands where the next check expects it.
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:1');
    await expect.poll(() => fx.admin.zcard(keys.inflight), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:2');
    await expect.poll(() => fx.admin.llen(keys.queue(workerId)), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:3');
    await expect.poll(() => fx.admin.llen(keys.backlog), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, framePayload('later', { delayMs: 600_000 }));
    await expect.poll(() => fx.admin.zcard(keys.delayed), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, `big:${'x'.repeat(100)}`);
    await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 15_000 }).toBe(1);

    const [inflightId = ''] = await fx.admin.zrange(keys.inflight, 0, -1);
    const [queuedId = ''] = await fx.admin.lrange(keys.queue(workerId), 0, -1);
    const [backlogId = ''] = await fx.admin.lrange(keys.backlog, 0, -1);
    const [delayedId = ''] = await fx.admin.zrange(keys.delayed, 0, -1);
    const [deadId = ''] = await fx.admin.zrange(keys.dlq, 0, -1);

    const inflight = await lookUp(c.url, inflightId);
    expect(inflight).toMatchObject({
      id: inflightId,
      state: 'inflight',
      attempts: 1,
      worker: workerId,
      body: b64('slow:1'),
    });
    expect(inflight.deadline).toBe(Number(await fx.admin.zscore(keys.inflight, inflightId)));
    expect(await lookUp(c.url, queuedId)).toEqual({
      id: queuedId,
      state: 'queued',
      attempts: 0,
      worker: workerId,
      body: b64('slow:2'),
    });
    expect(await lookUp(c.url, backlogId)).toEqual({
      id: backlogId,
      state: 'backlog',
      attempts: 0,
      body: b64('slow:3'),
    });
    const delayed = await lookUp(c.url, delayedId);
    expect(delayed).toMatchObject({
      id: delayedId,
      state: 'delayed',
      dueAt: Number(await fx.admin.zscore(keys.delayed, delayedId)),
    });
    expect(Buffer.from(String(delayed.body), 'base64').toString()).toContain('later');
    const dead = await lookUp(c.url, deadId);
    expect(dead).toMatchObject({ id: deadId, state: 'dead', body: b64(`big:${'x'.repeat(100)}`) });
    expect(String(dead.lastError)).toMatch(/oversize/);
    expect(await lookUp(c.url, 'no-such-message')).toEqual({
      id: 'no-such-message',
      state: 'unknown',
      attempts: 0,
    });
  });

  it('lists mode: the attempts of a message a traced nack retried (its value carries options and a link)', async () => {
    const keys = createKeys(uniquePrefix('clook-link'));
    const epoch = await scripts.elect(fx.admin, keys, { id: 'd1', host: 'h', pid: 1, leaseMs: 3_000 });
    await scripts.heartbeat(fx.admin, { registry: keys.workers }, { member: 'w1', action: 'beat' });
    await scripts.dispatchBatch(fx.admin, keys, {
      epoch,
      highWater: 1_000,
      roundRobinStart: 1,
      progress: '',
      workerTtlMs: 5_000,
      routing: 'round-robin',
      dedupeWindowMs: 60_000,
      workers: ['w1'],
      messages: [{ id: 'm1', payload: Buffer.from('m1'), publisherId: '', placement: '|a5' }],
      rejected: [],
    });
    await scripts.claim(fx.admin, keys, { workerId: 'w1', count: 1, ackTimeoutMs: 60_000, rotated: '' });
    const span = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 };
    await scripts.settle(fx.admin, keys, {
      workerId: 'w1',
      maxAttempts: 9,
      acks: [],
      nacks: [{ id: 'm1', delayMs: 600_000, error: withAttemptLink('boom', span) }],
      replies: [],
      replyQueues: { max: 10, tag: keys.tag },
    });
    expect(await fx.admin.hget(keys.attempts, 'm1')).toMatch(/^1\|a5X/);
    expect(await lookUpListsMessage(fx.admin, keys, 'm1')).toMatchObject({
      state: 'delayed',
      attempts: 1,
      lastError: 'boom',
    });
  });

  it('streams mode: undelivered (backlog), pending (in flight with its consumer), delayed, dead, acknowledged, unknown; stats and a purge', async () => {
    const prefix = uniquePrefix('cslook');
    // No upkeep during the test (it runs every REDISPATCH_REAP_INTERVAL_MS): it would trim the
    // acknowledged entry, maybe before the console is asked about it.
    const env = slowEnv(prefix, {
      REDISPATCH_MODE: 'streams',
      REDISPATCH_PARTITIONS: '2',
      REDISPATCH_REAP_INTERVAL_MS: '600000',
    });
    fx.spawn(['dispatcher'], env);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(1);
    const token = 'streams-console-token-0123';
    const c = await startConsole(fx, { ...env, REDISPATCH_CONSOLE_TOKEN: token });
    const partitions = await loadPartitions(fx.admin, createKeys(prefix), prefix, 2);
    /** The message id and partition of the entry now holding `body` (entries are trimmed once acked). */
    const entryOf = async (body: string) => {
      for (const p of partitions)
        for (const [, fields] of await fx.admin.xrange(p.stream, '-', '+'))
          if (fields[fields.indexOf('p') + 1] === body)
            return { id: String(fields[fields.indexOf('i') + 1]), partition: p.index };
      return undefined;
    };
    const idOf = async (body: string) => {
      await expect.poll(() => entryOf(body), { timeout: 15_000 }).toBeDefined();
      return (await entryOf(body)) ?? { id: '', partition: -1 };
    };

    // A quick worker acknowledges the first message (found while it waited), then leaves.
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'done:1');
    const done = await idOf('done:1');
    const quick = fx.spawn(['worker', '--handler', CHECKER_HANDLER], { ...env, CHECK_DELAY_MS: '0' });
    await quick.waitForLog(/worker registered/);
    await expect
      .poll(async () => (await lookUp(c.url, done.id)).note, { timeout: 15_000 })
      .toBe('acknowledged (not yet trimmed from the stream)');
    expect(await lookUp(c.url, done.id)).toMatchObject({ state: 'unknown', partition: done.partition });
    quick.kill('SIGTERM');
    await quick.exited();

    // With no worker: undelivered. Then a slow worker takes it: pending, so in flight.
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:1');
    const first = await idOf('slow:1');
    expect(await lookUp(c.url, first.id)).toMatchObject({
      state: 'backlog',
      attempts: 0,
      body: b64('slow:1'),
    });
    const workerId = `${prefix}-w`;
    const worker = fx.spawn(['worker', '--instance-id', workerId, '--handler', CHECKER_HANDLER], env);
    await worker.waitForLog(/worker registered/);
    await expect
      .poll(async () => (await lookUp(c.url, first.id)).state, { timeout: 15_000 })
      .toBe('inflight');
    const inflight = await lookUp(c.url, first.id);
    expect(inflight).toMatchObject({
      state: 'inflight',
      attempts: 1,
      worker: workerId,
      partition: first.partition,
    });
    const [seconds] = await fx.admin.time();
    expect(Number(inflight.deadline)).toBeGreaterThan(Number(seconds) * 1000 + 60_000);

    // Delayed and dead letters live in other structures of the partition.
    await fx.admin.publish(env.REDISPATCH_CHANNEL, framePayload('later', { delayMs: 600_000 }));
    await fx.admin.publish(env.REDISPATCH_CHANNEL, `big:${'x'.repeat(100)}`);
    const stateCounts = async () => {
      const stats = (await call(c.url, '/api/stats')).json;
      return [stats.delayed, stats.deadLetters];
    };
    await expect.poll(stateCounts, { timeout: 15_000 }).toEqual([1, 1]);
    let delayedId = '';
    let deadId = '';
    for (const p of partitions) {
      delayedId ||= (await fx.admin.zrange(p.delayed, 0, -1))[0] ?? '';
      for (const [, fields] of await fx.admin.xrange(p.dlq, '-', '+'))
        deadId = String(fields[fields.indexOf('i') + 1]);
    }
    const delayed = await lookUp(c.url, delayedId);
    expect(delayed).toMatchObject({ id: delayedId, state: 'delayed', attempts: 0 });
    expect(Buffer.from(String(delayed.body), 'base64').toString()).toContain('later');
    const dead = (await lookUp(c.url, deadId)) as Json;
    expect(dead).toMatchObject({ id: deadId, state: 'dead', body: b64(`big:${'x'.repeat(100)}`) });
    expect(String(dead.lastError)).toMatch(/oversize/);

    // Stats and dead letters in streams mode: the fields of `stats --json`, and a purge by id.
    const api = (await call(c.url, '/api/stats')).json;
    const cli = JSON.parse((await runCli(['stats', '--json'], env)).output) as Json;
    expect(Object.keys(api).sort()).toEqual(Object.keys(cli).sort());
    expect((api.partitions as Json[]).map((p) => p.stream)).toEqual(
      (cli.partitions as Json[]).map((p) => p.stream),
    );
    expect((await call(c.url, '/api/dlq')).json).toMatchObject({ total: 1, entries: [{ id: deadId }] });
    expect((await call(c.url, '/api/dlq/purge', { body: { ids: [deadId] }, token })).json).toEqual({
      purged: 1,
      missing: [],
    });
    expect((await lookUp(c.url, deadId)).state).toBe('unknown');
    expect(await lookUp(c.url, 'no-such-message')).toMatchObject({
      id: 'no-such-message',
      state: 'unknown',
      attempts: 0,
    });
  });
});
