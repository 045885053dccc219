// Per-key limits in streams mode (docs/flow-control.md, lua/includes/key-gate.lua) at the script level,
// on a real redis-server: a key's second message is held until the first one's final settle, which
// appends it in the same call; a retry keeps the slot; a dead letter (settle or reclaim) frees it; the
// per-key rate holds messages until the key's token is due and the leader's release appends them; and
// with the limits off nothing of the gate is written.
import { defineScripts, FencedError, type PartitionKeys, partitionKeys, scripts } from '@redispatch/shared';
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

const GROUP = 'g';
let partitionSeq = 0;

async function partition(): Promise<PartitionKeys> {
  partitionSeq += 1;
  const p = partitionKeys(0, `gate-${partitionSeq}:0`);
  await redis.set(p.fence, '1');
  return p;
}

/** One leader append of (id, key) messages with the given limits ('' key: none). */
function append(
  p: PartitionKeys,
  seq: number,
  messages: [id: string, key: string][],
  limits: { concurrency: number; rate: number; burst: number } | undefined,
  placement = '',
) {
  return scripts.streamAppend(redis, p, {
    epoch: 1,
    batchTag: `1:${seq}`,
    progress: '',
    group: GROUP,
    dedupeWindowMs: 60_000,
    messages: messages.map(([id]) => ({
      id,
      payload: Buffer.from(`body ${id}`),
      publisherId: '',
      placement,
    })),
    rejected: [],
    gate: limits && { ...limits, keys: messages.map(([, key]) => key) },
  });
}

/** What a worker reads: message id, entry id, and the key whose slot it holds (`k`). */
async function read(p: PartitionKeys, consumer: string) {
  const reply = (await redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 100, 'STREAMS', p.stream, '>')) as
    | [string, [string, string[]][]][]
    | null;
  return (reply?.[0]?.[1] ?? []).map(([entryId, fields]) => {
    const field = (name: string) => {
      const at = fields.indexOf(name);
      return at < 0 ? undefined : fields[at + 1];
    };
    return { id: field('i'), entryId, key: field('k') };
  });
}

function settle(
  p: PartitionKeys,
  consumer: string,
  gatedAcks: { entryId: string; key: string }[],
  nacks: scripts.StreamNack[] = [],
) {
  return scripts.streamSettle(redis, p, {
    group: GROUP,
    consumer,
    maxAttempts: 2,
    acks: [],
    nacks,
    gated: { acks: gatedAcks },
  });
}

const maintain = (p: PartitionKeys) =>
  scripts.streamMaintain(redis, p, {
    epoch: 1,
    group: GROUP,
    promoteLimit: 100,
    liveWorkers: [],
    gated: true,
  });

describe('per-key concurrency (streamAppend, streamSettle, streamMaintain, streamReclaim)', () => {
  const one = { concurrency: 1, rate: 0, burst: 0 };

  it('holds a busy key behind its slot, never other keys; the final ack appends the next in the same call', async () => {
    const p = await partition();
    const reply = await append(
      p,
      1,
      [
        ['a1', 'A'],
        ['a2', 'A'],
        ['b1', 'B'],
        ['a3', 'A'],
        ['x', ''],
      ],
      one,
    );
    expect(reply).toMatchObject({ appended: 3, heldByConcurrency: 2, heldByRate: 0 });
    const first = await read(p, 'w1');
    expect(first).toEqual([
      { id: 'a1', entryId: expect.any(String), key: 'A' },
      { id: 'b1', entryId: expect.any(String), key: 'B' },
      { id: 'x', entryId: expect.any(String), key: undefined },
    ]);
    expect(await redis.hget(`${p.keyGate}c`, 'A')).toBe('1');
    expect(await redis.scard(`${p.keyGate}w`)).toBe(1);
    // A stale ack (not the owner) frees nothing.
    const a1 = first[0] as { entryId: string };
    expect(await settle(p, 'w2', [{ entryId: a1.entryId, key: 'A' }])).toMatchObject({ acked: 0, stale: 1 });
    expect(await read(p, 'w1')).toEqual([]);
    expect(await settle(p, 'w1', [{ entryId: a1.entryId, key: 'A' }])).toMatchObject({ acked: 1 });
    const second = await read(p, 'w1');
    expect(second.map((e) => e.id)).toEqual(['a2']);

    // A retry keeps the slot: a3 stays held while a2 waits in the delayed set, and comes back with 'k'.
    const a2 = second[0] as { entryId: string };
    const nack = { entryId: a2.entryId, messageId: 'a2', attempt: 1, delayMs: 0, error: 'boom' };
    expect(await settle(p, 'w1', [], [nack])).toMatchObject({ retried: 1 });
    expect(await read(p, 'w1')).toEqual([]);
    expect((await maintain(p)).promoted).toBe(1);
    const retried = await read(p, 'w1');
    expect(retried).toEqual([{ id: 'a2', entryId: expect.any(String), key: 'A' }]);
    expect(await redis.hget(`${p.keyGate}c`, 'A')).toBe('1');

    // The last attempt dead-letters it, which frees the slot: a3 goes out in that call.
    const last = { ...nack, entryId: (retried[0] as { entryId: string }).entryId, attempt: 2 };
    expect(await settle(p, 'w1', [], [last])).toMatchObject({ deadLettered: 1 });
    const third = await read(p, 'w1');
    expect(third.map((e) => e.id)).toEqual(['a3']);
    expect(await redis.scard(`${p.keyGate}w`)).toBe(0);
    await settle(p, 'w1', [{ entryId: (third[0] as { entryId: string }).entryId, key: 'A' }]);
    expect(await redis.hget(`${p.keyGate}c`, 'A')).toBeNull();
    expect(await redis.exists(`${p.keyGate}h:A`)).toBe(0);
  });

  it('a delayed keyed message enters its gate when due; a reclaim dead letter frees the slot', async () => {
    const p = await partition();
    await append(p, 1, [['k1', 'K']], one);
    await append(p, 2, [['k2', 'K']], one, 'd0');
    expect(await maintain(p)).toMatchObject({ promoted: 1, heldByConcurrency: 1, keysWaiting: 1 });
    const taken = await read(p, 'w1');
    expect(taken.map((e) => e.id)).toEqual(['k1']);
    // w1 dies: after the ack timeout another worker reclaims; past the attempt limit it is dead-lettered.
    const reclaim = (consumer: string) =>
      scripts.streamReclaim(redis, p, { group: GROUP, consumer, minIdleMs: 0, count: 10, maxAttempts: 1 });
    const reclaimed = await reclaim('w2');
    expect(reclaimed.deadLettered).toBe(1);
    const next = await read(p, 'w2');
    expect(next).toEqual([{ id: 'k2', entryId: expect.any(String), key: 'K' }]);
    // A reclaim that hands an entry over returns its key with it (the receipt carries it to the settle).
    const again = await scripts.streamReclaim(redis, p, {
      group: GROUP,
      consumer: 'w3',
      minIdleMs: 0,
      count: 10,
      maxAttempts: 5,
    });
    expect(again.entries).toEqual([expect.objectContaining({ messageId: 'k2', key: 'K' })]);
  });
});

describe('per-key rate (streamAppend, streamKeyRelease)', () => {
  it('holds what exceeds the bucket and releases it, fenced, when the key has a token again', async () => {
    const p = await partition();
    const rate = { concurrency: 0, rate: 2, burst: 1 };
    const reply = await append(
      p,
      1,
      [
        ['r1', 'R'],
        ['r2', 'R'],
        ['r3', 'R'],
        ['s1', 'S'],
      ],
      rate,
    );
    expect(reply).toMatchObject({ appended: 2, heldByRate: 2, heldByConcurrency: 0 });
    // Rate only: no slot to free, so no 'k' on the entries.
    expect((await read(p, 'w1')).map((e) => [e.id, e.key])).toEqual([
      ['r1', undefined],
      ['s1', undefined],
    ]);
    const early = await scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit: 10 });
    expect(early.keysWaiting).toBe(1);
    expect(early.waitMs).toBeGreaterThan(0);
    expect(early.waitMs).toBeLessThanOrEqual(500);
    await expect(scripts.streamKeyRelease(redis, p, { epoch: 0, keyLimit: 10 })).rejects.toBeInstanceOf(
      FencedError,
    );
    // Time passes (on the Redis clock): the key's bucket last filled 600 ms ago, so its token is due.
    const tokenDue = async () => {
      const [seconds, micros] = await redis.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      await redis.hset(`${p.keyGate}t:R`, 'tokens', '0', 'tokensAt', String(now - 600));
      await redis.zadd(`${p.keyGate}due`, now - 100, 'R');
    };
    await tokenDue();
    const released = await scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit: 10 });
    expect(released).toMatchObject({ released: 1, keysWaiting: 1 });
    expect((await read(p, 'w1')).map((e) => e.id)).toEqual(['r2']);
    await tokenDue();
    expect(await scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit: 10 })).toMatchObject({
      released: 1,
      keysWaiting: 0,
      waitMs: -1,
    });
    expect((await read(p, 'w1')).map((e) => e.id)).toEqual(['r3']);
  });
});

describe('limits off', () => {
  it('writes nothing of the gate and adds no field to an entry', async () => {
    const p = await partition();
    expect(
      await append(
        p,
        1,
        [
          ['o1', 'O'],
          ['o2', 'O'],
        ],
        undefined,
      ),
    ).toMatchObject({ appended: 2 });
    expect((await read(p, 'w1')).map((e) => [e.id, e.key])).toEqual([
      ['o1', undefined],
      ['o2', undefined],
    ]);
    expect(await redis.keys(`${p.keyGate}*`)).toEqual([]);
    // A leader without limits drains at takeover: where nothing was ever held it writes nothing.
    const scan = { mode: 'drain' as const, concurrency: 0, rate: 0, burst: 0, cursor: '0' };
    expect(await scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit: 10, scan })).toMatchObject({
      released: 0,
      keysWaiting: 0,
    });
    expect(await redis.keys(`${p.keyGate}*`)).toEqual([]);
  });
});

describe('the takeover sweep (streamKeyRelease "all" / "drain")', () => {
  const one = { concurrency: 1, rate: 0, burst: 0 };
  const sweep = (p: PartitionKeys, mode: 'all' | 'drain', limits: typeof one, cursor = '0', keyLimit = 1) =>
    scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit, scan: { mode, ...limits, cursor } });

  it('with both limits off drains every held message, a page per call, and a settle then holds nothing', async () => {
    const p = await partition();
    const held = [
      ['d1', 'D'],
      ['d2', 'D'],
      ['d3', 'D'],
      ['e1', 'E'],
      ['e2', 'E'],
    ] as [string, string][];
    expect(await append(p, 1, held, one)).toMatchObject({ appended: 2, heldByConcurrency: 3 });
    const first = await read(p, 'w1');
    const off = { concurrency: 0, rate: 0, burst: 0 };
    const replies = [];
    let cursor = '0';
    for (let call = 0; call < 10; call += 1) {
      const reply = await sweep(p, 'drain', off, cursor);
      replies.push(reply.released);
      cursor = reply.cursor;
      if (reply.keysWaiting === 0) break;
    }
    // keyLimit 1: at most one message per call, until nothing is held.
    expect(replies.every((n) => n <= 1)).toBe(true);
    expect(replies.reduce((a, b) => a + b, 0)).toBe(3);
    const drained = await read(p, 'w1');
    expect(drained.map((e) => e.id).sort()).toEqual(['d2', 'd3', 'e2']);
    expect(drained.every((e) => e.key === undefined)).toBe(true);
    expect(await redis.scard(`${p.keyGate}w`)).toBe(0);
    // The first entries still hold their slots; their settle frees them and appends nothing.
    const acks = first.map((e) => ({ entryId: e.entryId, key: e.key as string }));
    expect(await settle(p, 'w1', acks)).toMatchObject({ acked: 2 });
    expect(await read(p, 'w1')).toEqual([]);
    expect(await redis.hlen(`${p.keyGate}c`)).toBe(0);
    await redis.set(p.fence, '2');
    await expect(sweep(p, 'drain', off)).rejects.toBeInstanceOf(FencedError);
  });

  it("with the limits on re-checks every waiting key against the new leader's limits", async () => {
    const p = await partition();
    const held = [
      ['f1', 'F'],
      ['f2', 'F'],
      ['f3', 'F'],
      ['f4', 'F'],
    ] as [string, string][];
    expect(await append(p, 1, held, one)).toMatchObject({ appended: 1, heldByConcurrency: 3 });
    await read(p, 'w1');
    const reply = await sweep(p, 'all', { concurrency: 3, rate: 0, burst: 0 }, '0', 10);
    expect(reply).toMatchObject({ released: 2, keysWaiting: 1, cursor: '0', more: false });
    expect((await read(p, 'w1')).map((e) => [e.id, e.key])).toEqual([
      ['f2', 'F'],
      ['f3', 'F'],
    ]);
    expect(await redis.hget(`${p.keyGate}c`, 'F')).toBe('3');
  });

  it('paused: a settle frees the slot but lets nothing out until the resume sweep', async () => {
    const p = await partition();
    const held = [
      ['p1', 'P'],
      ['p2', 'P'],
    ] as [string, string][];
    await append(p, 1, held, one);
    const [first] = await read(p, 'w1');
    const pause = { mode: 'all' as const, ...one, cursor: '0', paused: true };
    expect(await scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit: 10, scan: pause })).toMatchObject({
      released: 0,
      keysWaiting: 1,
    });
    expect(await settle(p, 'w1', [{ entryId: first?.entryId ?? '', key: 'P' }])).toMatchObject({ acked: 1 });
    expect(await read(p, 'w1')).toEqual([]);
    expect(await redis.hget(`${p.keyGate}c`, 'P')).toBeNull();
    const resume = { ...pause, paused: false };
    expect(await scripts.streamKeyRelease(redis, p, { epoch: 1, keyLimit: 10, scan: resume })).toMatchObject({
      released: 1,
      keysWaiting: 0,
    });
    expect((await read(p, 'w1')).map((e) => [e.id, e.key])).toEqual([['p2', 'P']]);
  });
});
