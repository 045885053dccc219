// The typed script wrappers (shared/src/redis/calls): named keys and arguments reach the script in
// the order its header declares, replies come back decoded, and domain codes become typed errors.
import {
  createKeys,
  FencedError,
  ScriptCode,
  scripts,
  throwOnScriptCode,
  WorkerNotRegisteredError,
} from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useScriptRedis } from './helpers/script-redis.js';

let redis: Redis;
let keys = createKeys('unset');
useScriptRedis(
  'script-calls-test',
  'calls',
  (connected) => {
    redis = connected;
  },
  (fresh) => {
    keys = fresh;
  },
);

const elect = () => scripts.elect(redis, keys, { id: 'd1', host: 'h', pid: 1, leaseMs: 3_000 });

const batch = (epoch: number, messages: scripts.NewMessage[], workers = ['w1']) =>
  scripts.dispatchBatch(redis, keys, {
    epoch,
    highWater: 1_000,
    roundRobinStart: 1,
    progress: '',
    workerTtlMs: 5_000,
    routing: 'round-robin',
    dedupeWindowMs: 60_000,
    workers,
    messages,
    rejected: [],
  });

describe('script wrappers', () => {
  it('dispatchBatch routes, decodes its counts, and stores the dedupe key keys.ts declares', async () => {
    const epoch = await elect();
    await scripts.heartbeat(redis, { registry: keys.workers }, { member: 'w1', action: 'beat' });
    const reply = await batch(epoch, [
      { id: 'm1', payload: Buffer.from('a'), publisherId: 'pub-1', placement: '' },
      { id: 'm2', payload: Buffer.from('b'), publisherId: '', placement: '' },
    ]);
    expect(reply).toMatchObject({ routed: 2, accepted: 2, duplicates: 0, deadLettered: 0 });
    expect(await redis.lrange(keys.queue('w1'), 0, -1)).toEqual(['m1', 'm2']);
    expect(await redis.get(keys.dedupe('pub-1'))).toBe('m1');
  });

  it('a stale epoch becomes FencedError carrying that epoch', async () => {
    const stale = await elect();
    await elect();
    await expect(batch(stale, [])).rejects.toThrow(FencedError);
    await expect(
      scripts.reap(redis, keys, { epoch: stale, workerTtlMs: 5_000, maxAttempts: 3, limit: 100 }),
    ).rejects.toMatchObject({ name: 'FencedError', staleEpoch: stale });
  });

  it('claim by an unregistered worker becomes WorkerNotRegisteredError; settleClaim reports it', async () => {
    const args = { workerId: 'ghost', count: 5, ackTimeoutMs: 1_000, rotated: '' };
    await expect(scripts.claim(redis, keys, args)).rejects.toThrow(WorkerNotRegisteredError);
    const reply = await scripts.settleClaim(redis, keys, {
      ...args,
      maxAttempts: 3,
      acks: [],
      nacks: [],
      replies: [],
      replyQueues: { max: 10, tag: keys.tag },
    });
    expect(reply).toMatchObject({ registered: false, claimed: [], acked: 0 });
  });

  it('claim and settle round-trip a message by name', async () => {
    const epoch = await elect();
    await scripts.heartbeat(redis, { registry: keys.workers }, { member: 'w1', action: 'beat' });
    await batch(epoch, [{ id: 'm1', payload: Buffer.from('body'), publisherId: '', placement: '' }]);
    const claimed = await scripts.claim(redis, keys, {
      workerId: 'w1',
      count: 5,
      ackTimeoutMs: 10_000,
      rotated: '',
    });
    expect(claimed).toEqual([{ id: 'm1', attempt: 1, payload: Buffer.from('body') }]);
    const settled = await scripts.settle(redis, keys, {
      workerId: 'w1',
      maxAttempts: 3,
      acks: ['m1'],
      nacks: [],
      replies: [],
      replyQueues: { max: 10, tag: keys.tag },
    });
    expect(settled).toEqual({
      acked: 1,
      retried: 0,
      deadLettered: 0,
      stale: 0,
      replied: 0,
      repliesDeadLettered: 0,
    });
  });

  it('maps the codes in one place and leaves normal replies alone', () => {
    expect(() => throwOnScriptCode([ScriptCode.Fenced], { epoch: 7 })).toThrow(FencedError);
    expect(() => throwOnScriptCode([ScriptCode.NotRegistered], { workerId: 'w' })).toThrow(
      WorkerNotRegisteredError,
    );
    expect(() => throwOnScriptCode([3, 1, 2], { epoch: 7 })).not.toThrow();
  });
});
