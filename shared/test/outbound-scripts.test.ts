import {
  createKeys,
  decodeDeadOutboundEntry,
  decodeOutboundEntry,
  encodeOutboundTail,
} from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let keys = createKeys('unset');
useScriptRedis(
  'outbound-test',
  'out',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    keys = fresh;
  },
);

const ROUTE = 'relay:r1';
const REPLY_TO = 'relay:r1:AAAAAAAAAAAAAAAAAAAAAA';

/** Puts message `id` in flight, owned by `worker`, as a claim would. */
async function owned(id: string, worker: string) {
  await redis.zadd(keys.inflight, Date.now() + 60_000, id);
  await redis.hset(keys.owner, id, worker);
  await redis.sadd(keys.held(worker), id);
  await redis.hset(keys.body, id, 'body');
}

function tail(id: string, payload: string, replyTo = REPLY_TO) {
  return encodeOutboundTail({ messageId: id, replyTo, payload: Buffer.from(payload), text: true });
}

async function settle(worker: string, acks: string[], replies: [string, string, Buffer][], max = 100) {
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
    3,
    acks.length,
    0,
    ...acks,
    ...(replies.length > 0 ? [max, keys.tag, ...replies.flat()] : []),
  );
}

async function dead() {
  return (await redis.lrangeBuffer(keys.outboundDead, 0, -1)).map((raw) => decodeDeadOutboundEntry(raw));
}

describe('replies in the settle script', () => {
  it('writes a reply in the same call as its ack, stamped with the server time', async () => {
    await redis.zadd(keys.relays, Date.now(), 'r1');
    await owned('m1', 'w');
    expect(await settle('w', ['m1'], [['m1', ROUTE, tail('m1', 'hi')]])).toEqual([1, 0, 0, 0, 1, 0]);
    const [raw] = await redis.lrangeBuffer(keys.outbound(ROUTE), 0, -1);
    const entry = decodeOutboundEntry(raw ?? Buffer.alloc(0));
    expect(entry).toMatchObject({ messageId: 'm1', replyTo: REPLY_TO, text: true });
    expect(entry.payload.toString()).toBe('hi');
    expect(Math.abs(entry.enqueuedAt - Date.now())).toBeLessThan(5_000);
  });

  it('a stale ack writes no reply (the owning attempt replies)', async () => {
    await redis.zadd(keys.relays, Date.now(), 'r1');
    await owned('m1', 'other');
    expect(await settle('w', ['m1'], [['m1', ROUTE, tail('m1', 'late')]])).toEqual([0, 0, 0, 1, 0, 0]);
    expect(await redis.llen(keys.outbound(ROUTE))).toBe(0);
    expect(await redis.llen(keys.outboundDead)).toBe(0);
  });

  it('dead-letters replies past the queue bound and to relays that are not registered', async () => {
    await redis.zadd(keys.relays, Date.now(), 'r1');
    for (const id of ['a', 'b', 'c']) await owned(id, 'w');
    const reply = await settle(
      'w',
      ['a', 'b', 'c'],
      [
        ['a', ROUTE, tail('a', '1')],
        ['b', ROUTE, tail('b', '2')],
        ['c', 'relay:ghost', tail('c', '3', 'relay:ghost:AAAAAAAAAAAAAAAAAAAAAA')],
      ],
      1,
    );
    expect(reply).toEqual([3, 0, 0, 0, 1, 2]);
    expect(await redis.llen(keys.outbound(ROUTE))).toBe(1);
    expect((await dead()).map((d) => [d.reason, d.entry?.payload.toString()])).toEqual([
      ['unknown_relay', '3'],
      ['overflow', '2'],
    ]);
  });

  it('HTTP replies need no registered relay', async () => {
    await owned('m1', 'w');
    const url = 'http://127.0.0.1:1/hook';
    expect(await settle('w', ['m1'], [['m1', 'http', tail('m1', 'x', url)]])).toEqual([1, 0, 0, 0, 1, 0]);
    expect(await redis.llen(keys.outbound('http'))).toBe(1);
  });
});

describe('outbound take, settle and return', () => {
  it('moves entries oldest first into the processing list and finishes them in one call', async () => {
    const source = keys.outbound(ROUTE);
    const processing = keys.outboundProcessing(ROUTE, 'r1');
    await redis.lpush(source, 'e1', 'e2', 'e3');
    const taken = await redis.rdOutboundTakeBuffer(source, processing, 2);
    expect(typeof taken[0]).toBe('number');
    expect(taken.slice(1).map(String)).toEqual(['e1', 'e2']);
    expect(await redis.lrange(processing, 0, -1)).toEqual(['e2', 'e1']);
    expect(
      await redis.rdOutboundSettle(processing, keys.outboundDead, 1, 'e1', 'boom', 'e2', 'gone', 'e9'),
    ).toEqual([1, 1]);
    expect(await redis.llen(processing)).toBe(0);
    const [deadEntry] = await redis.lrange(keys.outboundDead, 0, -1);
    expect(deadEntry).toMatch(/^\d+:4:boome2$/);
    expect(await redis.rdOutboundTakeBuffer(source, processing, 5)).toHaveLength(2);
    expect(await redis.rdOutboundReturn(processing, source)).toBe(1);
    expect(await redis.lrange(source, 0, -1)).toEqual(['e3']);
  });
});
