// A rolling upgrade with tracing on: what a worker of this version writes after a traced nack, read
// by scripts of the previous version (fixtures/previous-version, copied from commit aea9d8d), which a
// leader or worker still runs while the others are upgraded. They must read the right attempt count
// and limit, and nothing they write from it may break this version's readers.
import { readFileSync } from 'node:fs';
import { createKeys, type Keys, partitionKeys, scripts, withAttemptLink } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let keys: Keys = createKeys('unset');
useScriptRedis(
  'attempt-link-upgrade-test',
  'alup',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    keys = fresh;
  },
);

/** A previous-version script (or include) with its includes inlined, as scripts.ts does. */
function previous(file: string): string {
  const read = (name: string) =>
    readFileSync(new URL(`./fixtures/previous-version/${name}`, import.meta.url), 'utf8');
  return read(file).replace(/^--- @include ([a-z-]+)\s*$/gm, (_, name: string) => read(`${name}.lua`));
}

/** Hex with 'a' + digits and no 'p' in it: an old `a(%d+)` pattern must not find a limit there. */
const span = { traceId: `a9a9${'7'.repeat(28)}`, spanId: `a8${'7'.repeat(14)}`, traceFlags: 1 };
const hex = `a9a9${'7'.repeat(28)}a8${'7'.repeat(14)}01`;

describe('attempt links read by the previous version', () => {
  it('lists: the previous attempt count, limit and priority parsers read a linked value right', async () => {
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
      messages: [
        { id: 'limited', payload: Buffer.from('l'), publisherId: '', placement: '|a3' },
        { id: 'plain', payload: Buffer.from('p'), publisherId: '', placement: '' },
      ],
      rejected: [],
    });
    await scripts.claim(redis, keys, { workerId: 'w1', count: 2, ackTimeoutMs: 5_000, rotated: '' });
    const nack = (id: string) => ({ id, delayMs: 0, error: withAttemptLink('boom', span) });
    expect(
      await scripts.settle(redis, keys, {
        workerId: 'w1',
        maxAttempts: 9,
        acks: [],
        nacks: [nack('limited'), nack('plain')],
        replies: [],
        replyQueues: { max: 10, tag: keys.tag },
      }),
    ).toMatchObject({ retried: 2 });
    const parse = `${previous('message-options.lua')}
local v = redis.call('HGET', KEYS[1], ARGV[1])
return {deliveriesOf(v), attemptLimitOf(v, 9), priorityOf(v)}`;
    expect(await redis.eval(parse, 1, keys.attempts, 'limited')).toEqual([1, 3, 0]);
    expect(await redis.eval(parse, 1, keys.attempts, 'plain')).toEqual([1, 9, 0]);
  });

  it('streams: a previous leader promotes a linked retry and a previous worker reclaims it, with the right counts', async () => {
    const p = partitionKeys(0, `${keys.tag.slice(1, -1)}:0`);
    await scripts.streamFence(redis, p, { epoch: 1, group: 'g' });
    await scripts.streamAppend(redis, p, {
      epoch: 1,
      batchTag: '1:1',
      progress: '',
      group: 'g',
      dedupeWindowMs: 60_000,
      messages: [
        { id: 'limited', payload: Buffer.from('l'), publisherId: '', placement: '|a4' },
        { id: 'plain', payload: Buffer.from('p'), publisherId: '', placement: '' },
      ],
      rejected: [],
    });
    const read = async (consumer: string) =>
      (
        (await redis.xreadgroup('GROUP', 'g', consumer, 'COUNT', 2, 'STREAMS', p.stream, '>')) as [
          string,
          [string, string[]][],
        ][]
      )[0]?.[1] ?? [];
    const first = await read('A');
    // A worker of this version nacks both, traced.
    expect(
      await scripts.streamSettle(redis, p, {
        group: 'g',
        consumer: 'A',
        maxAttempts: 9,
        acks: [],
        nacks: first.map(([entryId, fields]) => ({
          entryId,
          messageId: fields[1] as string,
          attempt: 1,
          delayMs: 0,
          error: withAttemptLink('boom', span),
        })),
      }),
    ).toMatchObject({ retried: 2 });
    // The leader of the previous version promotes them (streamMaintain-7).
    const promoted = (await redis.eval(
      previous('streamMaintain-7.lua'),
      7,
      p.fence,
      p.stream,
      p.delayed,
      p.delayedBody,
      p.delayedAttempts,
      p.dlq,
      p.errors,
      '1',
      'g',
      10,
      'A',
      'B',
    )) as number[];
    expect(promoted[0]).toBe(2);
    const retries = await read('A');
    const fieldsOf = (id: string) => retries.find(([, f]) => f[1] === id)?.[1];
    expect(fieldsOf('limited')).toEqual(['i', 'limited', 'p', 'l', 'n', '1', 'm', '4']);
    expect(fieldsOf('plain')).toEqual(['i', 'plain', 'p', 'p', 'n', '1']);
    // A worker of the previous version reclaims them (streamReclaim-3): attempt 3 (1 before, the
    // read above, this claim), within both limits.
    const reclaimed = (await redis.eval(
      previous('streamReclaim-3.lua'),
      3,
      p.stream,
      p.dlq,
      p.totals,
      'g',
      'B',
      0,
      '0-0',
      10,
      9,
    )) as (string | number)[];
    expect(reclaimed.slice(1, 3)).toEqual([0, 0]);
    expect(reclaimed.filter((_, i) => i >= 3 && i % 4 === 0)).toEqual(['limited', 'plain']);
    expect(reclaimed.filter((_, i) => i >= 3 && i % 4 === 1)).toEqual([3, 3]);
    // And this version's reclaim reads them too (a worker of this version after the upgrade).
    const again = await scripts.streamReclaim(redis, p, {
      group: 'g',
      consumer: 'A',
      minIdleMs: 0,
      count: 10,
      maxAttempts: 9,
    });
    expect(again.entries.map((e) => [e.messageId, e.attempt])).toEqual([
      ['limited', 4],
      ['plain', 4],
    ]);
    expect(await redis.hgetall(p.delayedAttempts)).toEqual({
      'l:limited': `1:${hex}`,
      'l:plain': `1:${hex}`,
    });
  });

  it('streams: counts with a suffix (promoted by a leader that did not split it off) are read by their leading digits', async () => {
    const p = partitionKeys(0, `${keys.tag.slice(1, -1)}:0`);
    await scripts.streamFence(redis, p, { epoch: 1, group: 'g' });
    // What a leader of the previous version promotes from "1x<hex>" / "1|4x<hex>" / "2q5".
    await redis.xadd(p.stream, '*', 'i', 'a', 'p', 'a', 'n', `1x${hex}`);
    await redis.xadd(p.stream, '*', 'i', 'b', 'p', 'b', 'n', '1', 'm', `4x${hex}`);
    await redis.xadd(p.stream, '*', 'i', 'c', 'p', 'c', 'n', '2q5');
    await redis.xreadgroup('GROUP', 'g', 'A', 'COUNT', 3, 'STREAMS', p.stream, '>');
    const reclaimed = await scripts.streamReclaim(redis, p, {
      group: 'g',
      consumer: 'B',
      minIdleMs: 0,
      count: 10,
      maxAttempts: 3,
    });
    // a: 1 + 1 + 1 = 3 of 3; b: 3 of its own 4; c: 2 + 1 + 1 = 4 > 3, dead-lettered.
    expect(reclaimed.entries.map((e) => [e.messageId, e.attempt])).toEqual([
      ['a', 3],
      ['b', 3],
    ]);
    expect(reclaimed.deadLettered).toBe(1);
    // A nack of b at attempt 3 is retried (its own limit 4 is read through the suffix).
    const entryOf = (await redis.xrange(p.stream, '-', '+')).find(([, f]) => f[1] === 'b')?.[0] ?? '';
    expect(
      await scripts.streamSettle(redis, p, {
        group: 'g',
        consumer: 'B',
        maxAttempts: 3,
        acks: [],
        nacks: [{ entryId: entryOf, messageId: 'b', attempt: 3, delayMs: 0, error: 'boom' }],
      }),
    ).toMatchObject({ retried: 1, deadLettered: 0 });
  });
});
