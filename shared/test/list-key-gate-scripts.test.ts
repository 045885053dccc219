// Per-key limits in lists mode (docs/flow-control.md, Per-key limits) at the script level, on a real
// redis-server: the batch write admits or holds a keyed message, an ack or a dead letter frees the slot
// and lets the key's next message in within the same settle call (to the settling worker's queue),
// a redelivery keeps the slot, a dlq replay is gated again, and the per-key bucket paces a key.
import { createKeys, defineScripts, type Keys, readStats, scripts } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RedisHandle;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  defineScripts(redis);
});
afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

const EPOCH = 4;

/** INFO commandstats as command -> calls (scripts' inner commands counted too). */
async function commandStats(): Promise<Record<string, number>> {
  const text = await redis.info('commandstats');
  const stats: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    stats[match[1] as string] = Number(match[2]);
  return stats;
}
const replyQueues = (keys: Keys) => ({ max: 100, tag: keys.tag });

const ROUTING = { highWater: 100, workerTtlMs: 60_000 };

async function deployment(
  name: string,
  limits: { concurrency: number; rate: number; burst: number },
  sticky = true,
) {
  const keys = createKeys(name);
  await redis.set(keys.epoch, String(EPOCH));
  await scripts.heartbeat(redis, { registry: keys.workers }, { member: 'w1', action: 'beat' });
  await scripts.heartbeat(redis, { registry: keys.workers }, { member: 'w2', action: 'beat' });
  await scripts.keyRelease(redis, keys, {
    epoch: EPOCH,
    ...limits,
    hold: false,
    limit: 100,
    mode: 'all',
    ...ROUTING,
    sticky,
  });
  return keys;
}

/** Writes keyed messages (`[id, key]`, key '' for none) as the leader does, with the gate's suffix. */
function write(keys: Keys, messages: [string, string][], workers: string[] = ['w1']) {
  return scripts.dispatchBatch(redis, keys, {
    epoch: EPOCH,
    highWater: 100,
    roundRobinStart: 1,
    progress: '',
    workerTtlMs: 60_000,
    routing: 'round-robin',
    dedupeWindowMs: 60_000,
    workers,
    messages: messages.map(([id, key]) => ({
      id,
      payload: Buffer.from(id),
      publisherId: '',
      placement: key === '' ? '' : `\0${key}`,
    })),
    rejected: [],
  });
}

const claimAll = (keys: Keys, workerId: string) =>
  scripts.claim(redis, keys, { workerId, count: 100, ackTimeoutMs: 60_000, rotated: '' });

function settle(keys: Keys, workerId: string, acks: string[], nacks: scripts.SettleNack[] = []) {
  return scripts.settle(redis, keys, {
    workerId,
    maxAttempts: 2,
    acks,
    nacks,
    replies: [],
    replyQueues: replyQueues(keys),
  });
}

describe('key-gate (lists mode)', () => {
  it('concurrency 1: one of a key in flight, the next let in by the ack in the same call, other keys not held up', async () => {
    const keys = await deployment('kg-one', { concurrency: 1, rate: 0, burst: 1 });
    const reply = await write(keys, [
      ['a1', 'A'],
      ['a2', 'A'],
      ['b1', 'B'],
      ['a3', 'A'],
      ['p1', ''],
    ]);
    expect(reply).toMatchObject({ routed: 3, accepted: 5, keyHeldConcurrency: 2, keyHeldRate: 0 });
    expect(await redis.lrange(keys.queue('w1'), 0, -1)).toEqual(['a1', 'b1', 'p1']);
    expect(await redis.lrange(keys.keyHeld('A'), 0, -1)).toEqual(['a2', 'a3']);
    expect(await redis.zscore(keys.keyWait, 'A')).toBe('1000000000000000');
    // stats counts the held messages in the backlog, and the keys waiting.
    expect(await readStats(redis, keys, 'kg-one')).toMatchObject({ backlog: 2, keysWaiting: 1 });
    expect((await claimAll(keys, 'w1')).map((m) => m.id)).toEqual(['a1', 'b1', 'p1']);
    // Only the gated claims carry the owner suffix.
    expect(await redis.hget(keys.owner, 'a1')).toBe('w1\0k');
    expect(await redis.hget(keys.owner, 'p1')).toBe('w1');
    // A stale ack from another worker frees nothing.
    expect((await settle(keys, 'w2', ['a1'])).stale).toBe(1);
    expect(await redis.llen(keys.keyHeld('A'))).toBe(2);
    expect((await settle(keys, 'w1', ['a1', 'p1'])).acked).toBe(2);
    expect(await redis.lrange(keys.queue('w1'), 0, -1)).toEqual(['a2']);
    expect(await redis.lrange(keys.keyHeld('A'), 0, -1)).toEqual(['a3']);
    expect(await redis.hget(keys.keyBusy, 'A')).toBe('1');
    expect(await redis.hget(keys.keyOf, 'a1')).toBeNull();
    expect(await redis.hget(keys.keyOf, 'a2')).toBe('+A');
    // A nack with a retry keeps the slot; dead-lettering (attempt 2 of 2) frees it and lets a3 in.
    await claimAll(keys, 'w1');
    await settle(keys, 'w1', [], [{ id: 'a2', delayMs: 0, error: 'boom' }]);
    expect(await redis.llen(keys.keyHeld('A'))).toBe(1);
    await scripts.reap(redis, keys, { epoch: EPOCH, workerTtlMs: 60_000, maxAttempts: 2, limit: 100 });
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['a2']);
    expect((await claimAll(keys, 'w1')).map((m) => [m.id, m.attempt])).toEqual([['a2', 2]]);
    expect((await settle(keys, 'w1', [], [{ id: 'a2', delayMs: 0, error: 'boom' }])).deadLettered).toBe(1);
    expect(await redis.lrange(keys.queue('w1'), 0, -1)).toEqual(['a3']);
    expect(await redis.zscore(keys.keyWait, 'A')).toBeNull();
    expect(await redis.hget(keys.keyOf, 'a2')).toBe('-A');
    // B was never held up; finishing everything leaves no per-key state behind but the dead letter's key.
    await claimAll(keys, 'w1');
    await settle(keys, 'w1', ['a3', 'b1']);
    expect(await redis.hgetall(keys.keyBusy)).toEqual({});
    expect(await redis.hgetall(keys.keyOf)).toEqual({ a2: '-A' });
    // The dead letter replayed is gated again: a new A in flight holds it back until acked.
    await write(keys, [['a4', 'A']]);
    expect(await scripts.dlqReplay(redis, keys, { ids: ['a2'] })).toBe(1);
    expect(await redis.lrange(keys.keyHeld('A'), 0, -1)).toEqual(['a2']);
    await claimAll(keys, 'w1');
    await settle(keys, 'w1', ['a4']);
    expect(await redis.lrange(keys.queue('w1'), 0, -1)).toEqual(['a2']);
    expect(await redis.hget(keys.keyOf, 'a2')).toBe('+A');
  });

  it('a redelivery keeps the slot (dead worker, expired claim); the key waits for it, then goes on in order', async () => {
    const keys = await deployment('kg-redeliver', { concurrency: 1, rate: 0, burst: 1 });
    await write(keys, [
      ['a1', 'A'],
      ['a2', 'A'],
    ]);
    await claimAll(keys, 'w1');
    // w1 dies: its claim goes back to the backlog, still holding A's slot.
    await scripts.heartbeat(redis, { registry: keys.workers }, { member: 'w1', action: 'leave' });
    const reaped = await scripts.reap(redis, keys, {
      epoch: EPOCH,
      workerTtlMs: 60_000,
      maxAttempts: 5,
      limit: 100,
    });
    expect(reaped.workerLost).toBe(1);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['a1']);
    expect(await redis.lrange(keys.keyHeld('A'), 0, -1)).toEqual(['a2']);
    expect(await redis.hget(keys.keyBusy, 'A')).toBe('1');
    // w2 takes it from the backlog and acks: a2 follows to w2's queue in the same call.
    expect((await claimAll(keys, 'w2')).map((m) => m.id)).toEqual(['a1']);
    await settle(keys, 'w2', ['a1']);
    expect(await redis.lrange(keys.queue('w2'), 0, -1)).toEqual(['a2']);
  });

  it('concurrency 2 lets two of a key in; a leader with the limits off releases what an earlier term held', async () => {
    const keys = await deployment('kg-two', { concurrency: 2, rate: 0, burst: 1 });
    const reply = await write(keys, [
      ['a1', 'A'],
      ['a2', 'A'],
      ['a3', 'A'],
      ['a4', 'A'],
    ]);
    expect(reply.keyHeldConcurrency).toBe(2);
    expect(await redis.lrange(keys.queue('w1'), 0, -1)).toEqual(['a1', 'a2']);
    const off = await scripts.keyRelease(redis, keys, {
      epoch: EPOCH,
      concurrency: 0,
      rate: 0,
      burst: 1,
      hold: false,
      limit: 100,
      mode: 'all',
      ...ROUTING,
      sticky: true,
    });
    expect(off).toMatchObject({ admitted: 2, keysWaiting: 0 });
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['a3', 'a4']);
    expect(await redis.exists(keys.keyLimits)).toBe(0);
    // A stale leader is refused.
    await expect(
      scripts.keyRelease(redis, keys, {
        epoch: 3,
        concurrency: 1,
        rate: 0,
        burst: 1,
        hold: false,
        limit: 1,
        mode: 'due',
        ...ROUTING,
        sticky: true,
      }),
    ).rejects.toThrow();
  });

  it('rate: a key gets its burst at once, then one per 1/rate s through keyRelease; other keys have their own bucket', async () => {
    const keys = await deployment('kg-rate', { concurrency: 0, rate: 10, burst: 2 });
    const reply = await write(keys, [
      ['a1', 'A'],
      ['a2', 'A'],
      ['a3', 'A'],
      ['a4', 'A'],
      ['b1', 'B'],
    ]);
    expect(reply).toMatchObject({ routed: 3, keyHeldRate: 2, keyHeldConcurrency: 0 });
    const due = Number(await redis.zscore(keys.keyWait, 'A'));
    const [seconds, micros] = await redis.time();
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    expect(due - nowMs).toBeGreaterThan(0);
    expect(due - nowMs).toBeLessThanOrEqual(101);
    const args = {
      epoch: EPOCH,
      concurrency: 0,
      rate: 10,
      burst: 2,
      hold: false,
      limit: 100,
      mode: 'due',
      ...ROUTING,
      sticky: true,
    } as const;
    let released = 0;
    for (let i = 0; i < 100 && released < 2; i++) {
      released += (await scripts.keyRelease(redis, keys, args)).admitted;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(released).toBe(2);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['a3', 'a4']);
    expect(await redis.zcard(keys.keyWait)).toBe(0);
    // The bucket expires once it would be full again, so an idle key leaves nothing behind.
    expect(await redis.pttl(keys.keyBucket('A'))).toBeGreaterThan(0);
  });

  it('a limited claim can be extended (msg.extend) by its owner only, though its owner and attempts values carry markers', async () => {
    const keys = await deployment('kg-extend', { concurrency: 1, rate: 0, burst: 1 });
    await write(keys, [['a1', 'A']]);
    await claimAll(keys, 'w1');
    const extend = (workerId: string, attempt: number) =>
      scripts.extendClaims(redis, keys, { workerId, requests: [{ ref: 'a1', attempt, ms: 120_000 }] });
    expect(await extend('w2', 1)).toEqual([false]);
    expect(await extend('w1', 2)).toEqual([false]);
    expect(await extend('w1', 1)).toEqual([true]);
  });

  it('without affinity routing a release goes to the shortest live queue with room, else the backlog head', async () => {
    const keys = await deployment('kg-spread', { concurrency: 1, rate: 0, burst: 1 }, false);
    await write(keys, [
      ['a1', 'A'],
      ['a2', 'A'],
      ['a3', 'A'],
    ]);
    await claimAll(keys, 'w1');
    await redis.rpush(keys.queue('w1'), 'other1', 'other2');
    await settle(keys, 'w1', ['a1']);
    expect(await redis.lrange(keys.queue('w2'), 0, -1)).toEqual(['a2']);
    // No live queue below the high-water mark: the backlog's head.
    await scripts.keyRelease(redis, keys, {
      epoch: EPOCH,
      concurrency: 1,
      rate: 0,
      burst: 1,
      hold: false,
      limit: 100,
      mode: 'all',
      highWater: 1,
      workerTtlMs: 60_000,
      sticky: false,
    });
    await claimAll(keys, 'w2');
    await redis.rpush(keys.queue('w2'), 'other3');
    await redis.rpush(keys.backlog, 'older');
    await settle(keys, 'w2', ['a2']);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['a3', 'older']);
  });

  it('a message without a key costs the same Redis commands with the limits on as with them off (INFO commandstats)', async () => {
    const run = async (name: string, limits: { concurrency: number; rate: number; burst: number }) => {
      const keys = await deployment(name, limits);
      const before = await commandStats();
      const ids = Array.from({ length: 50 }, (_, i) => `m${i}`);
      await write(
        keys,
        ids.map((id) => [id, ''] as [string, string]),
      );
      await claimAll(keys, 'w1');
      await settle(keys, 'w1', ids.slice(0, 40), [{ id: 'm40', delayMs: 0, error: 'again' }]);
      await scripts.reap(redis, keys, { epoch: EPOCH, workerTtlMs: 60_000, maxAttempts: 5, limit: 100 });
      const after = await commandStats();
      const delta: Record<string, number> = {};
      for (const [command, calls] of Object.entries(after)) {
        const used = calls - (before[command] ?? 0);
        // EVAL the first time a script runs on this server, EVALSHA after: one script call either way.
        const name = command === 'evalsha' ? 'eval' : command;
        if (used > 0 && command !== 'info') delta[name] = (delta[name] ?? 0) + used;
      }
      return delta;
    };
    const off = await run('kg-cost-off', { concurrency: 0, rate: 0, burst: 1 });
    const on = await run('kg-cost-on', { concurrency: 1, rate: 5, burst: 1 });
    console.log(
      `commandstats for 50 plain messages (write, claim, settle 40 acks + 1 nack, reap): limits off ${JSON.stringify(off)}; limits on ${JSON.stringify(on)}`,
    );
    expect(on).toEqual(off);
    // What the same workload cost before the per-key limits existed (main at 299350e, the same calls).
    expect(off).toEqual({
      eval: 4,
      get: 2,
      hdel: 5,
      hget: 2,
      hincrby: 4,
      hmget: 5,
      hset: 4,
      llen: 4,
      lpop: 3,
      rpush: 2,
      sadd: 1,
      srem: 2,
      time: 4,
      zadd: 2,
      zcard: 3,
      zrange: 1,
      zrangebyscore: 4,
      zrem: 3,
      zscore: 2,
    });
  });

  it('costs nothing without a key: no per-key key is touched', async () => {
    const keys = await deployment('kg-none', { concurrency: 1, rate: 5, burst: 1 });
    await write(keys, [
      ['p1', ''],
      ['p2', ''],
    ]);
    await claimAll(keys, 'w1');
    await settle(keys, 'w1', ['p1', 'p2']);
    expect(await redis.keys(`${keys.tag}:key-*`)).toEqual([keys.keyLimits]);
  });
});
