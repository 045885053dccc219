// The flow-control scripts (docs/flow-control.md) on a real redis-server: a request is applied only
// by the leader of the current epoch, and a resume moves the held list back in order, in chunks.
import { createKeys, defineScripts, FencedError, readFlow, scripts } from '@redispatch/shared';
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

describe('flowRequest-1 / flowApply-4', () => {
  it('applies a request only for the current epoch; a stale leader is refused and changes nothing', async () => {
    const keys = createKeys('flow-fence');
    await redis.set(keys.epoch, '7');
    expect(await scripts.flowApply(redis, keys, { epoch: 7, limit: 10 })).toEqual({
      paused: false,
      appliedSeq: 0,
      held: 0,
    });
    const seq = await scripts.flowRequest(redis, keys, { requested: 'paused' });
    expect((await readFlow(redis, keys)).state).toBe('running');
    await expect(scripts.flowApply(redis, keys, { epoch: 6, limit: 10 })).rejects.toBeInstanceOf(FencedError);
    expect(await readFlow(redis, keys)).toMatchObject({
      requested: 'paused',
      state: 'running',
      appliedSeq: 0,
    });
    expect(await scripts.flowApply(redis, keys, { epoch: 7, limit: 10 })).toMatchObject({
      paused: true,
      appliedSeq: seq,
    });
    expect(await readFlow(redis, keys)).toMatchObject({ state: 'paused', appliedSeq: seq, appliedEpoch: 7 });
  });

  it('on resume moves the held ids to the head of the backlog, oldest first, limit per call', async () => {
    const keys = createKeys('flow-release');
    await redis.set(keys.epoch, '3');
    await scripts.flowRequest(redis, keys, { requested: 'paused' });
    expect((await scripts.flowApply(redis, keys, { epoch: 3, limit: 4 })).paused).toBe(true);
    const held = Array.from({ length: 10 }, (_, i) => `h${i}`);
    await redis.rpush(keys.flowHeld, ...held);
    await redis.rpush(keys.backlog, 'newer');
    // Still paused: nothing moves.
    expect((await scripts.flowApply(redis, keys, { epoch: 3, limit: 4 })).held).toBe(10);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['newer']);
    await scripts.flowRequest(redis, keys, { requested: 'running' });
    const left: number[] = [];
    for (let i = 0; i < 3; i++)
      left.push((await scripts.flowApply(redis, keys, { epoch: 3, limit: 4 })).held);
    expect(left).toEqual([6, 2, 0]);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual([...held, 'newer']);
    expect(await redis.exists(keys.flowHeld)).toBe(0);
  });

  it('flowRelease-4: a full bucket lets the burst through, then one token per 1/rate s; a stale epoch is refused', async () => {
    const keys = createKeys('flow-bucket');
    await redis.set(keys.epoch, '2');
    await redis.rpush(keys.flowHeld, ...Array.from({ length: 20 }, (_, i) => `m${i}`));
    const limit = { epoch: 2, rate: 10, burst: 5, limit: 100 };
    await expect(scripts.flowRelease(redis, keys, { ...limit, epoch: 1 })).rejects.toBeInstanceOf(
      FencedError,
    );
    expect(await redis.llen(keys.backlog)).toBe(0);
    const first = await scripts.flowRelease(redis, keys, limit);
    expect(first).toMatchObject({ released: 5, held: 15 });
    const second = await scripts.flowRelease(redis, keys, limit);
    expect(second.released).toBeLessThanOrEqual(1);
    expect(second.waitMs).toBeGreaterThan(0);
    expect(second.waitMs).toBeLessThanOrEqual(100);
    expect(await redis.lrange(keys.backlog, 0, 4)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('flowTake-2: grants at most the bucket, and a refund comes back (capped at the burst)', async () => {
    const keys = createKeys('flow-take');
    await redis.set(keys.epoch, '4');
    const rate = { epoch: 4, rate: 1, burst: 8 };
    expect((await scripts.flowTake(redis, keys, { ...rate, want: 3, refund: 0 })).granted).toBe(3);
    expect((await scripts.flowTake(redis, keys, { ...rate, want: 100, refund: 0 })).granted).toBe(5);
    expect((await scripts.flowTake(redis, keys, { ...rate, want: 100, refund: 2 })).granted).toBe(2);
    expect((await scripts.flowTake(redis, keys, { ...rate, want: 100, refund: 50 })).granted).toBe(8);
  });
});
