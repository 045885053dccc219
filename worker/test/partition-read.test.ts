// A streams-mode read of one partition against a real redis-server: without a priority stream, the
// partition stream only; with one, what waits in the priority stream comes first, highest level first
// (equal levels in stream order), and the partition stream only once the priority stream is empty.
import { createConnection, partitionKeys } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PartitionRead, readPartition } from '../src/streams/partition-read.js';

let server: RedisHandle;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'partition-read-test',
  });
  await redis.connect();
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const ids = (read: PartitionRead) => ({
  prioritized: read.prioritized.map(([, f]) => String(f[1])),
  normal: read.normal.map(([, f]) => String(f[1])),
});

describe('readPartition', () => {
  it('takes the priority stream first, highest level first, then the partition stream', async () => {
    const p = partitionKeys(0, 'read-test:0');
    for (const key of [p.stream, p.priorityStream]) await redis.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
    for (const id of ['low-1', 'low-2']) await redis.xadd(p.stream, '*', 'i', id, 'p', id);
    for (const [id, level] of [
      ['q3', 3],
      ['q9-a', 9],
      ['q5', 5],
      ['q9-b', 9],
    ] as const)
      await redis.xadd(p.priorityStream, '*', 'i', id, 'p', id, 'q', level);
    const read = (count: number, withPriority = true) =>
      readPartition(redis, p, { group: 'g', consumer: 'A', count, blockMs: 100, withPriority });

    expect(ids(await read(3))).toEqual({ prioritized: ['q9-a', 'q5', 'q3'], normal: [] });
    expect(ids(await read(10))).toEqual({ prioritized: ['q9-b'], normal: [] });
    expect(ids(await read(10))).toEqual({ prioritized: [], normal: ['low-1', 'low-2'] });
    await redis.xadd(p.stream, '*', 'i', 'low-3', 'p', 'low-3');
    await redis.xadd(p.priorityStream, '*', 'i', 'q1', 'p', 'q1', 'q', 1);
    // A worker that has not learnt of the priority stream reads the partition stream only.
    expect(ids(await read(10, false))).toEqual({ prioritized: [], normal: ['low-3'] });
    expect(ids(await read(10))).toEqual({ prioritized: ['q1'], normal: [] });
    expect(ids(await read(10))).toEqual({ prioritized: [], normal: [] });
  });
});
