// The previous attempt's span context across workers, on the scripts against a real Redis. Lists
// mode: a traced nack (settle-9) keeps it at the end of the message's attempts value, the next claim
// (claim-8) hands it back with the attempt number, a later traced nack replaces it, and the message's
// own attempt limit is still read right although the hex may hold an 'a' and digits. Streams mode: a
// traced nack (streamSettle-7) parks it with the retry, and the upkeep (streamMaintain-8) promotes
// the retry with it as the entry's 'l' field (into the priority stream for a prioritized entry).
import { createKeys, type Keys, partitionKeys, scripts, withAttemptLink } from '@redispatch/shared';
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

  it('streams mode: a traced nack parks the span with the retry; the promoted entry carries it', async () => {
    const p = partitionKeys(0, `${keys.tag.slice(1, -1)}:0`);
    await scripts.streamFence(redis, p, { epoch: 1, group: 'g' });
    await scripts.streamAppend(redis, p, {
      epoch: 1,
      batchTag: '1:1',
      progress: '',
      group: 'g',
      dedupeWindowMs: 60_000,
      messages: [
        { id: 'plain', payload: Buffer.from('plain'), publisherId: '', placement: '|a4' },
        { id: 'high', payload: Buffer.from('high'), publisherId: '', placement: '|p5' },
      ],
      rejected: [],
    });
    const takeOne = async (stream: string) => {
      const read = (await redis.xreadgroup('GROUP', 'g', 'A', 'COUNT', 1, 'STREAMS', stream, '>')) as [
        string,
        [string, string[]][],
      ][];
      return read[0]?.[1][0]?.[0] as string;
    };
    const nack = async (stream: string, messageId: string, n: number) =>
      scripts.streamSettle(
        redis,
        { ...p, stream },
        {
          group: 'g',
          consumer: 'A',
          maxAttempts: 9,
          acks: [],
          nacks: [
            {
              entryId: await takeOne(stream),
              messageId,
              attempt: 1,
              delayMs: 0,
              error: withAttemptLink('boom', spanOf(n)),
            },
          ],
        },
      );
    expect(await nack(p.stream, 'plain', 1)).toMatchObject({ retried: 1 });
    expect(await nack(p.priorityStream, 'high', 2)).toMatchObject({ retried: 1 });
    expect(await redis.hgetall(p.delayedAttempts)).toEqual({
      plain: `1|4x${hexOf(1)}`,
      high: `1x${hexOf(2)}q5`,
    });
    expect(await redis.hgetall(p.errors)).toEqual({ plain: 'boom', high: 'boom' });
    expect(
      (await scripts.streamMaintain(redis, p, { epoch: 1, group: 'g', promoteLimit: 10, liveWorkers: ['A'] }))
        .promoted,
    ).toBe(2);
    const last = async (stream: string) => (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[1];
    expect(await last(p.stream)).toEqual(['i', 'plain', 'p', 'plain', 'n', '1', 'm', '4', 'l', hexOf(1)]);
    expect(await last(p.priorityStream)).toEqual([
      'i',
      'high',
      'p',
      'high',
      'n',
      '1',
      'q',
      '5',
      'l',
      hexOf(2),
    ]);
  });
});
