// The previous attempt's span context across workers, lists mode, on the scripts against a real
// Redis: a traced nack (settle-9) keeps it at the end of the message's attempts value, the next
// claim (claim-8) hands it back with the attempt number, a later traced nack replaces it, and the
// message's own attempt limit is still read right although the hex may hold an 'a' and digits.
import { createKeys, type Keys, scripts, withAttemptLink } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let keys: Keys = createKeys('unset');
useScriptRedis(
  'attempt-link-test',
  'alink',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    keys = fresh;
  },
);

/** A span context whose hex has 'a' + digits in it (an attempt limit pattern must not match there). */
const spanOf = (n: number) => ({
  traceId: `a9a9${String(n).repeat(28)}`,
  spanId: `a8${String(n).repeat(14)}`,
  traceFlags: 1,
});
const hexOf = (n: number) => `a9a9${String(n).repeat(28)}a8${String(n).repeat(14)}01`;

describe('attempt links in the attempts hash (lists mode)', () => {
  it('a traced nack leaves its span for the next claim; the own limit still holds', async () => {
    const epoch = await scripts.elect(redis, keys, { id: 'd1', host: 'h', pid: 1, leaseMs: 3_000 });
    await scripts.heartbeat(redis, { registry: keys.workers }, { member: 'w1', action: 'beat' });
    await scripts.dispatchBatch(redis, keys, {
      epoch,
      highWater: 1_000,
      roundRobinStart: 1,
      progress: '',
      workerTtlMs: 5_000,
      routing: 'round-robin',
      dedupeWindowMs: 60_000,
      workers: ['w1'],
      messages: [{ id: 'm1', payload: Buffer.from('m1'), publisherId: '', placement: '|a3' }],
      rejected: [],
    });
    const claim = () =>
      scripts.claim(redis, keys, { workerId: 'w1', count: 1, ackTimeoutMs: 5_000, rotated: '' });
    const nack = (n: number, traced: boolean) =>
      scripts.settle(redis, keys, {
        workerId: 'w1',
        maxAttempts: 9,
        acks: [],
        nacks: [{ id: 'm1', delayMs: 0, error: traced ? withAttemptLink('boom', spanOf(n)) : 'boom' }],
        replies: [],
        replyQueues: { max: 10, tag: keys.tag },
      });
    /** What the reaper does with a due retry: back into a queue. */
    const promote = async () => {
      await redis.zrem(keys.delayed, 'm1');
      await redis.rpush(keys.queue('w1'), 'm1');
    };

    const [first] = await claim();
    expect(first).toMatchObject({ attempt: 1 });
    expect(first?.previousAttempt).toBeUndefined();
    expect(await nack(1, true)).toMatchObject({ retried: 1 });
    expect(await redis.hget(keys.attempts, 'm1')).toBe(`1|a3x${hexOf(1)}`);
    expect(await redis.hget(keys.errors, 'm1')).toBe('boom');
    await promote();
    const [second] = await claim();
    expect(second).toMatchObject({ attempt: 2, previousAttempt: hexOf(1) });
    expect(await nack(2, true)).toMatchObject({ retried: 1 });
    expect(await redis.hget(keys.attempts, 'm1')).toBe(`2|a3x${hexOf(2)}`);
    await promote();
    const [third] = await claim();
    expect(third).toMatchObject({ attempt: 3, previousAttempt: hexOf(2) });
    // Its own limit (3), not 9 and not a number found in the hex: dead-lettered now.
    expect(await nack(3, false)).toMatchObject({ retried: 0, deadLettered: 1 });
    expect(await redis.hget(keys.errors, 'm1')).toBe('boom (attempt 3 of 3)');
  });
});
