import { assertNotFenced, createKeys, FencedError, ScriptCode } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let keys = createKeys('unset');
useScriptRedis(
  'lua-test',
  'lua',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    keys = fresh;
  },
);

const fixed = () => [
  keys.epoch,
  keys.body,
  keys.backlog,
  keys.totals,
  keys.dlq,
  keys.errors,
  keys.progress,
  keys.workers,
  keys.delayed,
  keys.attempts,
];

async function elect(): Promise<number> {
  return redis.rdElect(keys.epoch, keys.leader, 'd1', 'host', 1, 3000);
}

async function dispatch(
  epoch: number,
  workers: string[],
  messages: [string, string][] | [string, string, string, string][],
  opts: {
    highWater?: number;
    rr?: number;
    dead?: [string, string, string][];
    ttlMs?: number;
    routing?: 'round-robin' | 'least-loaded';
    dedupeWindowMs?: number;
  } = {},
): Promise<number[]> {
  // Tests name workers without registering them unless they need to: register here so they count as live.
  for (const worker of workers) await redis.zadd(keys.workers, 'NX', Date.now() + 60_000, worker);
  const queueKeys = workers.map((w) => keys.queue(w));
  const tuples = messages.map((m) => (m.length === 4 ? m : [m[0], m[1], '', '']));
  return redis.rdDispatchBatch(
    10 + queueKeys.length,
    ...fixed(),
    ...queueKeys,
    String(epoch),
    opts.highWater ?? 1000,
    opts.rr ?? 1,
    tuples.length,
    opts.dead?.length ?? 0,
    tuples.at(-1)?.[0] ?? '',
    opts.ttlMs ?? 5_000,
    opts.routing ?? 'round-robin',
    opts.dedupeWindowMs ?? 60_000,
    keys.tag,
    ...workers,
    ...tuples.flat(),
    ...(opts.dead ?? []).flat(),
  );
}

async function register(worker: string): Promise<void> {
  await redis.rdHeartbeat(keys.workers, worker, 'beat');
}

async function claim(worker: string, count: number, ackTimeoutMs = 10_000, rotated = '') {
  return redis.rdClaim(
    keys.queue(worker),
    keys.inflight,
    keys.owner,
    keys.held(worker),
    keys.attempts,
    keys.body,
    keys.workers,
    keys.backlog,
    worker,
    count,
    ackTimeoutMs,
    rotated,
  );
}

async function settle(worker: string, acks: string[], nacks: [string, number, string][], maxAttempts = 3) {
  return redis.rdSettle(
    keys.inflight,
    keys.owner,
    keys.held(worker),
    keys.attempts,
    keys.body,
    keys.errors,
    keys.delayed,
    keys.dlq,
    keys.totals,
    worker,
    maxAttempts,
    acks.length,
    nacks.length,
    ...acks,
    ...nacks.flat(),
  );
}

async function reap(epoch: number, workerTtlMs = 5_000, maxAttempts = 3) {
  const k = keys;
  return redis.rdReap(
    k.epoch,
    k.workers,
    k.inflight,
    k.delayed,
    k.backlog,
    k.owner,
    k.attempts,
    k.errors,
    k.dlq,
    k.totals,
    k.body,
    String(epoch),
    workerTtlMs,
    maxAttempts,
    1000,
    k.tag,
  );
}

const msgs = (n: number, from = 0): [string, string][] =>
  Array.from({ length: n }, (_, i) => [`m${from + i}`, `body${from + i}`]);

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
