// Priority in streams mode, on the scripts against a real Redis: streamAppend-10 puts a prioritized
// message into the partition's priority stream (with its level and its own attempt limit) and parks a
// delayed one with its level; streamMaintain-8 promotes it into the priority stream when due and keeps
// that stream trimmed; a nack of a priority entry (streamSettle-7) comes back there; streamReclaim-4
// tells whether the priority stream exists and reclaims from it.
import { partitionKeys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let tag = 'unset';
useScriptRedis(
  'stream-priority-test',
  'sprio',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    tag = `${fresh.tag.slice(1, -1)}:0`;
  },
);

const GROUP = 'g';

/** A fenced partition (epoch 1) and a helper appending one batch of (id, placement) pairs. */
async function partition() {
  const p = partitionKeys(0, tag);
  expect(await scripts.streamFence(redis, p, { epoch: 1, group: GROUP })).toEqual({ raised: true });
  let seq = 0;
  const append = (messages: [string, string][]) => {
    seq += 1;
    return scripts.streamAppend(redis, p, {
      epoch: 1,
      batchTag: `1:${seq}`,
      progress: '',
      group: GROUP,
      dedupeWindowMs: 60_000,
      messages: messages.map(([id, placement]) => ({
        id,
        payload: Buffer.from(id),
        publisherId: '',
        placement,
      })),
      rejected: [],
    });
  };
  const maintain = () =>
    scripts.streamMaintain(redis, p, { epoch: 1, group: GROUP, promoteLimit: 100, liveWorkers: ['A'] });
  const reclaim = (stream: 'stream' | 'priorityStream', minIdleMs = 0) =>
    scripts.streamReclaim(
      redis,
      { ...p, stream: p[stream] },
      { group: GROUP, consumer: 'B', minIdleMs, count: 10, maxAttempts: 5 },
    );
  const fields = async (key: string) =>
    (await redis.xrange(key, '-', '+')).map(([, f]) => Object.fromEntries(pairs(f)));
  return { p, append, maintain, reclaim, fields };
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

describe('streams priority scripts', () => {
  it('no priority: no priority stream, and reclaim reports none', async () => {
    const w = await partition();
    expect(
      await w.append([
        ['m1', ''],
        ['m2', '|a3'],
      ]),
    ).toMatchObject({ appended: 2 });
    expect(await redis.exists(w.p.priorityStream)).toBe(0);
    expect((await w.reclaim('stream')).prioritized).toBe(false);
    await w.maintain();
    expect(await redis.exists(w.p.priorityStream)).toBe(0);
  });

  it('a prioritized message goes to the priority stream with its level (and limit); a delayed one lands there when due', async () => {
    const w = await partition();
    const reply = await w.append([
      ['low', ''],
      ['p7', '|p7'],
      ['p9-a3', '|a3p9'],
      ['later-p5', 'd0|p5'],
      ['later-a4p2', 'd0|a4p2'],
    ]);
    expect(reply).toMatchObject({ appended: 3, delayed: 2 });
    expect(await w.fields(w.p.stream)).toEqual([{ i: 'low', p: 'low' }]);
    expect(await w.fields(w.p.priorityStream)).toEqual([
      { i: 'p7', p: 'p7', q: '7' },
      { i: 'p9-a3', p: 'p9-a3', m: '3', q: '9' },
    ]);
    expect(await redis.hgetall(w.p.delayedAttempts)).toEqual({ 'later-p5': 'q5', 'later-a4p2': '0|4q2' });
    // The group exists on the priority stream, so workers can read it.
    expect((await w.reclaim('stream')).prioritized).toBe(true);
    expect((await w.maintain()).promoted).toBe(2);
    const promoted = (await w.fields(w.p.priorityStream)).slice(2);
    expect(promoted.sort((a, b) => String(a.i).localeCompare(String(b.i)))).toEqual([
      { i: 'later-a4p2', p: 'later-a4p2', n: '0', m: '4', q: '2' },
      { i: 'later-p5', p: 'later-p5', q: '5' },
    ]);
    expect(await w.fields(w.p.stream)).toEqual([{ i: 'low', p: 'low' }]);
  });

  it('a nacked priority entry is retried into the priority stream; reclaim takes priority entries; upkeep trims it', async () => {
    const w = await partition();
    await w.append([
      ['p7', '|p7'],
      ['p3', '|p3'],
    ]);
    const read = (await redis.xreadgroup(
      'GROUP',
      GROUP,
      'A',
      'COUNT',
      10,
      'STREAMS',
      w.p.priorityStream,
      '>',
    )) as [string, [string, string[]][]][];
    const [first, second] = (read[0]?.[1] ?? []).map(([id]) => id);
    const hi = { ...w.p, stream: w.p.priorityStream };
    const settled = await scripts.streamSettle(redis, hi, {
      group: GROUP,
      consumer: 'A',
      maxAttempts: 5,
      acks: [],
      nacks: [{ entryId: first as string, messageId: 'p7', attempt: 1, delayMs: 0, error: 'boom' }],
    });
    expect(settled).toMatchObject({ retried: 1 });
    expect(await redis.hget(w.p.delayedAttempts, 'p7')).toBe('1q7');
    // The other one was left by A: B reclaims it from the priority stream.
    const reclaimed = await w.reclaim('priorityStream');
    expect(reclaimed.entries.map((e) => [e.entryId, e.messageId, e.attempt])).toEqual([[second, 'p3', 2]]);
    const upkeep = await w.maintain();
    // The nacked entry (acked by the nack, older than the pending p3) is trimmed; the retry is back
    // in the priority stream with its earlier attempt.
    expect(upkeep).toMatchObject({ promoted: 1, pending: 1, trimmed: 1, length: 2 });
    expect(await w.fields(w.p.priorityStream)).toEqual([
      { i: 'p3', p: 'p3', q: '3' },
      { i: 'p7', p: 'p7', n: '1', q: '7' },
    ]);
    await scripts.streamSettle(redis, hi, {
      group: GROUP,
      consumer: 'B',
      maxAttempts: 5,
      acks: [second as string],
      nacks: [],
    });
    await redis.xreadgroup('GROUP', GROUP, 'A', 'COUNT', 10, 'STREAMS', w.p.priorityStream, '>');
    const after = await w.maintain();
    expect(after.trimmed).toBeGreaterThan(0);
    expect(after.pending).toBe(1);
    expect(await redis.xlen(w.p.priorityStream)).toBe(1);
  });

  it('a dead letter of a priority entry keeps its level, and a replay sends it back to the priority stream', async () => {
    const w = await partition();
    await w.append([
      ['p6', '|p6'],
      ['plain', ''],
    ]);
    const hiRead = (await redis.xreadgroup('GROUP', GROUP, 'A', 'STREAMS', w.p.priorityStream, '>')) as [
      string,
      [string, string[]][],
    ][];
    const entryId = hiRead[0]?.[1][0]?.[0] as string;
    await scripts.streamSettle(
      redis,
      { ...w.p, stream: w.p.priorityStream },
      {
        group: GROUP,
        consumer: 'A',
        maxAttempts: 5,
        acks: [],
        nacks: [{ entryId, messageId: 'p6', attempt: 1, delayMs: scripts.DEAD_LETTER_NOW, error: 'nope' }],
      },
    );
    const [dead] = await w.fields(w.p.dlq);
    expect(dead).toMatchObject({ i: 'p6', r: 'nope', q: '6' });
    expect(await scripts.streamDlqReplay(redis, w.p, { ids: ['p6'] })).toBe(1);
    // The first entry is the nacked one (acked, not trimmed yet), the second the replay.
    expect(await w.fields(w.p.priorityStream)).toEqual([
      { i: 'p6', p: 'p6', q: '6' },
      { i: 'p6', p: 'p6', q: '6' },
    ]);
    expect(await w.fields(w.p.stream)).toEqual([{ i: 'plain', p: 'plain' }]);
    // A dead letter without a level goes back to the partition stream.
    const plainId = String(
      await redis.xadd(w.p.dlq, '*', 'i', 'plain-2', 'p', 'plain-2', 'r', 'x', 'a', '1'),
    );
    expect(await scripts.streamDlqReplayEntries(redis, w.p, { entryIds: [plainId] })).toBe(1);
    expect(await w.fields(w.p.stream)).toEqual([
      { i: 'plain', p: 'plain' },
      { i: 'plain-2', p: 'plain-2' },
    ]);
    expect(await redis.xlen(w.p.priorityStream)).toBe(2);
  });
});
