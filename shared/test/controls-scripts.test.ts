// The handler-controls scripts on a real Redis: extend-3 / streamExtend-1 are fenced by owner and
// attempt, the settle scripts write a result only for an ack that counts (never for a nack or a
// stale ack), and a nack with DEAD_LETTER_NOW dead-letters at once with its text as the reason.
import { createKeys, partitionKeys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let keys = createKeys('unset');
useScriptRedis(
  'controls-scripts-test',
  'controls',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    keys = fresh;
  },
);

const replyQueues = () => ({ max: 10, tag: keys.tag });
const resultsStream = () => ({ key: keys.results, maxLen: 100 });

/** m1..mN routed to w1 and claimed by it (attempt 1); w2 is registered too. */
async function claimedByW1(count: number): Promise<string[]> {
  const epoch = await scripts.elect(redis, keys, { id: 'd1', host: 'h', pid: 1, leaseMs: 3_000 });
  for (const member of ['w1', 'w2'])
    await scripts.heartbeat(redis, { registry: keys.workers }, { member, action: 'beat' });
  const ids = Array.from({ length: count }, (_v, i) => `m${i + 1}`);
  await scripts.dispatchBatch(redis, keys, {
    epoch,
    highWater: 1_000,
    roundRobinStart: 1,
    progress: '',
    workerTtlMs: 5_000,
    routing: 'round-robin',
    dedupeWindowMs: 60_000,
    workers: ['w1'],
    messages: ids.map((id) => ({ id, payload: Buffer.from(id), publisherId: '', placement: '' })),
    rejected: [],
  });
  const claimed = await scripts.claim(redis, keys, {
    workerId: 'w1',
    count,
    ackTimeoutMs: 2_000,
    rotated: '',
  });
  expect(claimed.map((c) => c.id)).toEqual(ids);
  return ids;
}

async function results(key: string): Promise<{ id: string; result: string }[]> {
  return (await redis.xrange(key, '-', '+')).map(([, f]) => ({ id: String(f[1]), result: String(f[3]) }));
}

describe('lists mode', () => {
  it('extend moves the deadline only for the owner of that attempt', async () => {
    await claimedByW1(1);
    const before = Number(await redis.zscore(keys.inflight, 'm1'));
    const ask = (workerId: string, attempt: number) =>
      scripts.extendClaims(redis, keys, { workerId, requests: [{ ref: 'm1', attempt, ms: 60_000 }] });
    expect(await ask('w2', 1)).toEqual([false]);
    expect(await ask('w1', 2)).toEqual([false]);
    expect(Number(await redis.zscore(keys.inflight, 'm1'))).toBe(before);
    expect(await ask('w1', 1)).toEqual([true]);
    expect(Number(await redis.zscore(keys.inflight, 'm1'))).toBeGreaterThan(before + 50_000);
  });

  it('writes a result only with an ack that counts: not for a stale ack, not for a nack', async () => {
    await claimedByW1(2);
    const settle = (workerId: string, acks: string[], nacks: scripts.SettleNack[]) =>
      scripts.settle(redis, keys, {
        workerId,
        maxAttempts: 3,
        acks,
        nacks,
        replies: [],
        results: [
          { id: 'm1', result: Buffer.from('r1') },
          { id: 'm2', result: Buffer.from('r2') },
        ],
        replyQueues: replyQueues(),
        resultsStream: resultsStream(),
      });
    // w2 does not own m1: a stale ack, no result.
    expect(await settle('w2', ['m1'], [])).toMatchObject({ acked: 0, stale: 1 });
    expect(await results(keys.results)).toEqual([]);
    expect(await settle('w1', ['m1'], [{ id: 'm2', delayMs: 100, error: 'no' }])).toMatchObject({
      acked: 1,
      retried: 1,
    });
    expect(await results(keys.results)).toEqual([{ id: 'm1', result: 'r1' }]);
    // Settled: nothing left to extend.
    const extended = await scripts.extendClaims(redis, keys, {
      workerId: 'w1',
      requests: [{ ref: 'm1', attempt: 1, ms: 1_000 }],
    });
    expect(extended).toEqual([false]);
  });

  it('a nack with DEAD_LETTER_NOW dead-letters on the first attempt, its text the reason', async () => {
    await claimedByW1(1);
    const reply = await scripts.settle(redis, keys, {
      workerId: 'w1',
      maxAttempts: 5,
      acks: [],
      nacks: [{ id: 'm1', delayMs: scripts.DEAD_LETTER_NOW, error: 'cannot parse\0stack here' }],
      replies: [],
      replyQueues: replyQueues(),
    });
    expect(reply).toMatchObject({ deadLettered: 1, retried: 0 });
    expect(await redis.zscore(keys.dlq, 'm1')).not.toBeNull();
    expect(await redis.hget(keys.errors, 'm1')).toBe('cannot parse');
    expect(await redis.hget(keys.errors, 'stack:m1')).toBe('stack here');
  });
});

describe('streams mode (one partition)', () => {
  /** One entry delivered to consumer A. */
  async function deliveredToA() {
    const p = partitionKeys(0, `${keys.tag.slice(1, -1)}:0`);
    await redis.xgroup('CREATE', p.stream, 'g', '0', 'MKSTREAM');
    const entryId = String(await redis.xadd(p.stream, '*', 'i', 'm1', 'p', 'body'));
    await redis.xreadgroup('GROUP', 'g', 'A', 'COUNT', 1, 'STREAMS', p.stream, '>');
    return { p, entryId };
  }

  it('extend resets the idle time only for the consumer holding that delivery', async () => {
    const { p, entryId } = await deliveredToA();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ask = (consumer: string, attempt: number) =>
      scripts.extendStreamClaims(redis, p, {
        group: 'g',
        consumer,
        ackTimeoutMs: 10_000,
        requests: [{ ref: entryId, attempt, ms: 10_000 }],
      });
    expect(await ask('B', 1)).toEqual([false]);
    expect(await ask('A', 2)).toEqual([false]);
    const idle = async () =>
      Number(
        ((await redis.xpending(p.stream, 'g', '-', '+', 1)) as [string, string, number, number][])[0]?.[2],
      );
    expect(await idle()).toBeGreaterThanOrEqual(300);
    expect(await ask('A', 1)).toEqual([true]);
    expect(await idle()).toBeLessThan(300);
    // The delivery count is unchanged (JUSTID): still attempt 1.
    const [[, owner, , deliveries] = []] = (await redis.xpending(p.stream, 'g', '-', '+', 1)) as [
      string,
      string,
      number,
      number,
    ][];
    expect([owner, deliveries]).toEqual(['A', 1]);
  });

  it("writes a result only with the owner's ack, and a nack with DEAD_LETTER_NOW dead-letters at once", async () => {
    const { p, entryId } = await deliveredToA();
    const settle = (consumer: string, acks: string[], nacks: scripts.StreamNack[] = []) =>
      scripts.streamSettle(redis, p, {
        group: 'g',
        consumer,
        maxAttempts: 5,
        acks,
        nacks,
        results: [{ entryId, messageId: 'm1', result: Buffer.from('r1') }],
        resultsStream: { key: p.results, maxLen: 100 },
      });
    expect(await settle('B', [entryId])).toMatchObject({ acked: 0, stale: 1 });
    expect(await results(p.results)).toEqual([]);
    expect(await settle('A', [entryId])).toMatchObject({ acked: 1, stale: 0 });
    expect(await results(p.results)).toEqual([{ id: 'm1', result: 'r1' }]);
    const second = String(await redis.xadd(p.stream, '*', 'i', 'm2', 'p', 'body'));
    await redis.xreadgroup('GROUP', 'g', 'A', 'COUNT', 1, 'STREAMS', p.stream, '>');
    const nack = {
      entryId: second,
      messageId: 'm2',
      attempt: 1,
      delayMs: scripts.DEAD_LETTER_NOW,
      error: 'gone',
    };
    expect(await settle('A', [], [nack])).toMatchObject({ deadLettered: 1, retried: 0 });
    const [[, fields] = ['', []]] = await redis.xrange(p.dlq, '-', '+');
    expect(fields.slice(0, 8)).toEqual(['i', 'm2', 'p', 'body', 'r', 'gone', 'a', '1']);
    expect(await results(p.results)).toHaveLength(1);
  });
});
