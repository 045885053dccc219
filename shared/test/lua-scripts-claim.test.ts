// Script-level tests of the workers' claim and settle, the leader's reaper and the dead-letter admin
// scripts (lua-scripts.test.ts: election and the batch write).
import { ScriptCode } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import {
  claim,
  dispatch,
  elect,
  keys,
  msgs,
  reap,
  redis,
  register,
  settle,
  useListsScripts,
} from './helpers/lists-scripts.js';

useListsScripts('lua-claim-test');

describe('claim and settle', () => {
  it('claims atomically: deadline, owner, held set and attempt', async () => {
    const epoch = await elect();
    await register('w');
    await dispatch(epoch, ['w'], msgs(3));
    const reply = await claim('w', 2);
    expect(reply).toEqual(['m0', 1, 'body0', 'm1', 1, 'body1']);
    expect(await redis.zcard(keys.inflight)).toBe(2);
    expect(await redis.hget(keys.owner, 'm0')).toBe('w');
    expect((await redis.smembers(keys.held('w'))).sort()).toEqual(['m0', 'm1']);
    expect(await redis.lrange(keys.queue('w'), 0, -1)).toEqual(['m2']);
  });

  it('takes from the backlog when its own queue runs dry', async () => {
    const epoch = await elect();
    await register('w');
    await dispatch(epoch, ['w'], msgs(3), { highWater: 1 });
    expect(await redis.llen(keys.backlog)).toBe(2);
    const reply = await claim('w', 5);
    expect(reply.filter((_, i) => i % 3 === 0)).toEqual(['m0', 'm1', 'm2']);
    expect(await redis.llen(keys.backlog)).toBe(0);
  });

  it('refuses an unregistered worker so it re-registers first', async () => {
    const epoch = await elect();
    await dispatch(epoch, ['ghost'], msgs(1));
    await redis.zrem(keys.workers, 'ghost');
    expect(await claim('ghost', 1)).toEqual([ScriptCode.NotRegistered]);
    expect(await redis.llen(keys.queue('ghost'))).toBe(1);
  });

  it('undoes a BLMOVE rotation so the queue stays FIFO', async () => {
    const epoch = await elect();
    await register('w');
    await dispatch(epoch, ['w'], msgs(3));
    const rotated = await redis.blmove(keys.queue('w'), keys.queue('w'), 'RIGHT', 'LEFT', 1);
    expect(rotated).toBe('m2');
    const reply = await claim('w', 3, 10_000, rotated ?? '');
    expect(reply.filter((_, i) => i % 3 === 0)).toEqual(['m0', 'm1', 'm2']);
  });

  it('acks only for the owner; a stale ack changes nothing', async () => {
    const epoch = await elect();
    await register('w');
    await register('x');
    await dispatch(epoch, ['w'], msgs(2));
    await claim('w', 2);
    expect(await settle('x', ['m0'], [])).toEqual([0, 0, 0, 1, 0, 0]);
    expect(await settle('w', ['m0'], [])).toEqual([1, 0, 0, 0, 0, 0]);
    expect(await redis.hexists(keys.body, 'm0')).toBe(0);
    expect(await redis.zscore(keys.inflight, 'm0')).toBeNull();
    expect(await redis.smembers(keys.held('w'))).toEqual(['m1']);
    expect(await settle('w', ['m0'], [])).toEqual([0, 0, 0, 1, 0, 0]);
  });

  it('nack schedules a retry in the delayed set, and dead-letters at max attempts', async () => {
    const epoch = await elect();
    await register('w');
    await dispatch(epoch, ['w'], msgs(1));
    await claim('w', 1);
    expect(await settle('w', [], [['m0', 60_000, 'Error: boom']], 2)).toEqual([0, 1, 0, 0, 0, 0]);
    const due = Number(await redis.zscore(keys.delayed, 'm0'));
    const [seconds] = await redis.time();
    expect(due).toBeGreaterThan(Number(seconds) * 1000 + 50_000);
    expect(await redis.hget(keys.errors, 'm0')).toBe('Error: boom');
    // Second delivery, second failure: attempts (2) reached max (2).
    await redis.zrem(keys.delayed, 'm0');
    await redis.rpush(keys.queue('w'), 'm0');
    expect((await claim('w', 1))[1]).toBe(2);
    expect(await settle('w', [], [['m0', 10, 'Error: boom again']], 2)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(await redis.zrange(keys.dlq, 0, -1)).toEqual(['m0']);
    expect(await redis.hget(keys.errors, 'm0')).toBe('Error: boom again (attempt 2 of 2)');
    expect(await redis.hexists(keys.body, 'm0')).toBe(1);
  });
});

describe('reap', () => {
  it('rejects a stale epoch', async () => {
    const stale = await elect();
    await elect();
    expect((await reap(stale))[0]).toBe(ScriptCode.Fenced);
  });

  it('redelivers an expired claim with its attempt counted, and takes the owner off it', async () => {
    const epoch = await elect();
    await register('w');
    await dispatch(epoch, ['w'], msgs(1));
    await claim('w', 1, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reply = await reap(epoch);
    expect(reply[1]).toBe(1);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['m0']);
    expect(await redis.hget(keys.owner, 'm0')).toBeNull();
    expect(await redis.smembers(keys.held('w'))).toEqual([]);
    expect(await redis.hget(keys.errors, 'm0')).toBe('ack timeout');
    // The old owner's late ack is refused.
    expect(await settle('w', ['m0'], [])).toEqual([0, 0, 0, 1, 0, 0]);
  });

  it('dead-letters an expired claim that used its last attempt', async () => {
    const epoch = await elect();
    await register('w');
    await dispatch(epoch, ['w'], msgs(1));
    await redis.hset(keys.attempts, 'm0', 2);
    await claim('w', 1, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reply = await reap(epoch, 5_000, 3);
    expect(reply[3]).toBe(1);
    expect(await redis.zrange(keys.dlq, 0, -1)).toEqual(['m0']);
    expect(await redis.hget(keys.errors, 'm0')).toBe('ack timeout (attempt 3 of 3)');
  });

  it("reassigns a dead worker's queue and claims at once, and reports live workers with queue depth", async () => {
    const epoch = await elect();
    await register('dead');
    await register('live');
    await dispatch(epoch, ['dead', 'live'], msgs(6));
    await claim('dead', 1);
    await redis.zadd(keys.workers, 0, 'dead');
    const reply = await reap(epoch);
    expect(reply[0]).toBe(1);
    expect(reply[2]).toBe(1);
    expect(reply.slice(13)).toEqual(['live', 3]);
    expect((await redis.lrange(keys.backlog, 0, -1)).sort()).toEqual(['m0', 'm2', 'm4']);
    expect(await redis.exists(keys.queue('dead'), keys.held('dead'))).toBe(0);
    expect(await redis.zscore(keys.workers, 'dead')).toBeNull();
    expect(await redis.zcard(keys.inflight)).toBe(0);
  });

  it('promotes due delayed messages into the backlog, leaving future ones', async () => {
    const epoch = await elect();
    const [seconds] = await redis.time();
    const now = Number(seconds) * 1000;
    await redis.zadd(keys.delayed, now - 1000, 'due1', now - 500, 'due2', now + 60_000, 'later');
    const reply = await reap(epoch);
    expect(reply[4]).toBe(2);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['due1', 'due2']);
    expect(await redis.zrange(keys.delayed, 0, -1)).toEqual(['later']);
  });
});

describe('dead-letter admin', () => {
  it('replays with a fresh attempt count and purges bodies', async () => {
    const epoch = await elect();
    await dispatch(epoch, [], [], {
      dead: [
        ['a', 'A', 'r'],
        ['b', 'B', 'r'],
        ['c', 'C', 'r'],
      ],
    });
    await redis.hset(keys.attempts, 'a', 5);
    expect(
      await redis.rdDlqReplay(
        keys.dlq,
        keys.attempts,
        keys.errors,
        keys.backlog,
        keys.totals,
        '',
        0,
        'a',
        'nope',
      ),
    ).toBe(1);
    expect(await redis.hexists(keys.attempts, 'a')).toBe(0);
    expect(await redis.lrange(keys.backlog, 0, -1)).toEqual(['a']);
    expect(await redis.rdDlqPurge(keys.dlq, keys.body, keys.attempts, keys.errors, 100)).toBe(2);
    expect(await redis.hkeys(keys.body)).toEqual(['a']);
  });
});
