import { assertNotFenced, FencedError, ScriptCode } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { dispatch, elect, fixed, keys, msgs, redis, useListsScripts } from './helpers/lists-scripts.js';

useListsScripts('lua-test');

describe('elect', () => {
  it('raises the epoch strictly on every election and records the leader', async () => {
    const first = await elect();
    const second = await redis.rdElect(keys.epoch, keys.leader, 'd2', 'h2', 2, 3000);
    expect(second).toBe(first + 1);
    expect(await redis.hget(keys.leader, 'id')).toBe('d2');
    expect(await redis.rdResign(keys.epoch, keys.leader, first)).toBe(0);
    expect(await redis.rdResign(keys.epoch, keys.leader, second)).toBe(1);
    expect(await redis.exists(keys.leader)).toBe(0);
  });
});

describe('dispatchBatch', () => {
  it('rejects a stale epoch and writes nothing', async () => {
    const stale = await elect();
    await elect();
    const reply = await dispatch(stale, ['w1'], msgs(3));
    expect(reply[0]).toBe(ScriptCode.Fenced);
    expect(() => assertNotFenced(reply, stale)).toThrow(FencedError);
    expect(await redis.hlen(keys.body)).toBe(0);
    expect(await redis.llen(keys.queue('w1'))).toBe(0);
  });

  it('assigns round-robin, continuing where the last batch stopped', async () => {
    const epoch = await elect();
    const first = await dispatch(epoch, ['a', 'b', 'c'], msgs(4));
    expect(first.slice(0, 5)).toEqual([4, 0, 2, 4, 0]);
    await dispatch(epoch, ['a', 'b', 'c'], msgs(2, 4), { rr: first[2] });
    expect(await redis.lrange(keys.queue('a'), 0, -1)).toEqual(['m0', 'm3']);
    expect(await redis.lrange(keys.queue('b'), 0, -1)).toEqual(['m1', 'm4']);
    expect(await redis.lrange(keys.queue('c'), 0, -1)).toEqual(['m2', 'm5']);
    expect(await redis.hget(keys.totals, 'accepted')).toBe('6');
    expect(await redis.get(keys.progress)).toBe('m5');
  });

  it('skips full workers and parks the overflow in the backlog, then drains it first', async () => {
    const epoch = await elect();
    const reply = await dispatch(epoch, ['a', 'b'], msgs(7), { highWater: 2 });
    expect(reply.slice(0, 2)).toEqual([4, 3]);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['m4', 'm5', 'm6']);
    await redis.lpop(keys.queue('a'), 2);
    const drain = await dispatch(epoch, ['a', 'b'], msgs(1, 7), { highWater: 2 });
    // 2 routed (m4, m5 from the backlog); 1 newly backlogged (m7) behind m6, which stays.
    expect(drain.slice(0, 2)).toEqual([2, 1]);
    expect(await redis.lrange(keys.queue('a'), 0, -1)).toEqual(['m4', 'm5']);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['m6', 'm7']);
  });

  it('with no live worker everything goes to the backlog, nothing is dropped', async () => {
    const epoch = await elect();
    const reply = await dispatch(epoch, [], msgs(5));
    expect(reply.slice(0, 2)).toEqual([0, 5]);
    expect(await redis.llen(keys.backlog)).toBe(5);
  });

  it('is idempotent for a retried batch: stored ids are not accepted twice', async () => {
    const epoch = await elect();
    await dispatch(epoch, ['a'], msgs(3));
    const retry = await dispatch(epoch, ['a'], msgs(3));
    expect(retry[3]).toBe(0);
    expect(retry[4]).toBe(3);
    expect(await redis.llen(keys.queue('a'))).toBe(3);
  });

  it('dead-letters rejected messages with their reason in the same call', async () => {
    const epoch = await elect();
    await dispatch(epoch, ['a'], msgs(1), { dead: [['big', 'xxxx', 'oversize: 4 bytes']] });
    expect(await redis.zrange(keys.dlq, 0, -1)).toEqual(['big']);
    expect(await redis.hget(keys.errors, 'big')).toBe('oversize: 4 bytes');
    expect(await redis.hget(keys.totals, 'deadLettered')).toBe('1');
  });

  it('stays binary-safe', async () => {
    const epoch = await elect();
    const payload = Buffer.from([0, 255, 10, 13, 0xc3, 0x28]);
    await redis.rdDispatchBatch(
      11,
      ...fixed(),
      keys.queue('a'),
      String(epoch),
      10,
      1,
      1,
      0,
      '',
      5000,
      'round-robin',
      1000,
      keys.tag,
      'a',
      'bin',
      payload,
      '',
      '',
    );
    await redis.zadd(keys.workers, Date.now() + 60_000, 'a');
    await redis.rdDispatchBatch(
      11,
      ...fixed(),
      keys.queue('a'),
      String(epoch),
      10,
      1,
      1,
      0,
      '',
      5000,
      'round-robin',
      1000,
      keys.tag,
      'a',
      'bin2',
      payload,
      '',
      '',
    );
    expect(await redis.hgetBuffer(keys.body, 'bin')).toEqual(payload);
    expect(await redis.hgetBuffer(keys.body, 'bin2')).toEqual(payload);
    // 'a' was not registered for the first call: that message waited in the backlog, then went first.
    expect(await redis.lrange(keys.queue('a'), 0, -1)).toEqual(['bin', 'bin2']);
  });

  it('sends nothing to a queue whose worker was reaped or went silent (a batch racing the reaper)', async () => {
    const epoch = await elect();
    await redis.zadd(keys.workers, Date.now() + 60_000, 'live');
    await redis.zadd(keys.workers, 1, 'silent');
    const queueKeys = [keys.queue('reaped'), keys.queue('silent'), keys.queue('live')];
    const reply = await redis.rdDispatchBatch(
      10 + queueKeys.length,
      ...fixed(),
      ...queueKeys,
      String(epoch),
      100,
      1,
      3,
      0,
      '',
      5_000,
      'round-robin',
      1000,
      keys.tag,
      'reaped',
      'silent',
      'live',
      'a',
      'A',
      '',
      '',
      'b',
      'B',
      '',
      '',
      'c',
      'C',
      '',
      '',
    );
    expect(reply.slice(0, 2)).toEqual([3, 0]);
    expect(await redis.lrange(keys.queue('live'), 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await redis.exists(keys.queue('reaped'), keys.queue('silent'))).toBe(0);
  });

  it('parks delayed messages in the delayed set (relative and absolute due times)', async () => {
    const epoch = await elect();
    const [seconds] = await redis.time();
    const now = Number(seconds) * 1000;
    const reply = await dispatch(
      epoch,
      ['a'],
      [
        ['soon', 'S', '', 'd5000'],
        ['at', 'T', '', `D${now + 90_000}`],
        ['now', 'N', '', ''],
      ],
    );
    expect(reply[6]).toBe(2);
    expect(await redis.lrange(keys.queue('a'), 0, -1)).toEqual(['now']);
    expect(Number(await redis.zscore(keys.delayed, 'soon'))).toBeGreaterThanOrEqual(now + 4_000);
    expect(Number(await redis.zscore(keys.delayed, 'at'))).toBe(now + 90_000);
  });

  it('routes a publisher id once within the dedupe window, and a retried batch stays idempotent', async () => {
    const epoch = await elect();
    await dispatch(epoch, ['a'], [['m1', 'x', 'pub-1', '']]);
    const again = await dispatch(
      epoch,
      ['a'],
      [
        ['m2', 'x', 'pub-1', ''],
        ['m1', 'x', 'pub-1', ''],
      ],
    );
    expect(again[7]).toBe(1);
    expect(again[4]).toBe(1);
    expect(await redis.lrange(keys.queue('a'), 0, -1)).toEqual(['m1']);
    expect(await redis.hget(keys.totals, 'deduplicated')).toBe('1');
    const short = await dispatch(epoch, ['a'], [['m3', 'y', 'pub-2', '']], { dedupeWindowMs: 1 });
    expect(short[3]).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const later = await dispatch(epoch, ['a'], [['m4', 'y', 'pub-2', '']], { dedupeWindowMs: 1 });
    expect(later[3]).toBe(1);
  });

  it('sends affinity messages to their worker even past the high-water mark; least-loaded fills the emptiest', async () => {
    const epoch = await elect();
    await dispatch(
      epoch,
      ['a', 'b'],
      [
        ['k1', 'x', '', 'q2'],
        ['k2', 'x', '', 'q2'],
        ['k3', 'x', '', 'q2'],
      ],
      { highWater: 2 },
    );
    expect(await redis.lrange(keys.queue('b'), 0, -1)).toEqual(['k1', 'k2', 'k3']);
    await dispatch(epoch, ['a', 'b'], msgs(4), { routing: 'least-loaded', highWater: 10 });
    expect(await redis.llen(keys.queue('a'))).toBe(4);
  });
});
