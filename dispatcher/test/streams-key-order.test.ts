import { createConnection, createKeys, decodeEnvelope, loadPartitions, Publisher } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rendezvousIndex } from '../src/routing/placement.js';
import { fleet, testConfig, uniquePrefix } from './helpers/in-process.js';

// docs/guarantees.md 10: in streams mode an envelope's publisher id or affinity key picks the partition,
// so a key's messages share one partition, appended in publish order; a consumer group hands a
// partition's entries out in append order (docs/message-options.md). Checked on the streams themselves
// (before any worker reads them), then on what one worker running one handler at a time sees.
let server: RedisHandle;
let admin: Redis;
beforeAll(async () => {
  server = await startRedis();
  admin = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'a',
  });
  await admin.connect();
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

type Keyed = { key: string; kind: 'affinity' | 'id'; seq: number };
const parse = (body: string): Keyed => {
  const [kind, key, seq] = body.split(' ');
  return { kind: kind as Keyed['kind'], key: key as string, seq: Number(seq) };
};

it('puts every message of a publisher id or affinity key in the partition its key hashes to, in publish order', async () => {
  const prefix = uniquePrefix('key-order');
  const partitionCount = 4;
  const config = testConfig(server.url, prefix, {
    REDISPATCH_MODE: 'streams',
    REDISPATCH_PARTITIONS: String(partitionCount),
    REDISPATCH_BATCH_SIZE: '16',
  });
  const f = fleet(config);
  try {
    await f.startDispatcher();
    await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
    await expect
      .poll(async () => Number(((await admin.pubsub('NUMSUB', config.channel)) as [string, number])[1]), {
        timeout: 10_000,
      })
      .toBeGreaterThan(0);
    // 4 affinity keys (even seqs) and 400 publisher ids (odd seqs; each id picks its partition by its own
    // hash), interleaved, in many small batches so each key spans batches written to different home partitions.
    const publisher = new Publisher({ redis: admin, channel: config.channel });
    const count = 800;
    const messages = Array.from({ length: count }, (_, seq) => {
      const k = seq % 8;
      return k % 2 === 0
        ? { body: `affinity acct-${k} ${seq}`, options: { affinityKey: `acct-${k}` } }
        : { body: `id id-${k}-${seq} ${seq}`, options: { id: `id-${k}-${seq}` } };
    });
    for (let i = 0; i < count; i += 40) await publisher.publishBatch(messages.slice(i, i + 40));

    const keys = createKeys(prefix);
    const partitions = await loadPartitions(admin, keys, prefix, partitionCount);
    const tags = partitions.map((p) => p.tag);
    const read = async () => {
      const perPartition: Keyed[][] = [];
      for (const p of partitions) {
        const entries = (await admin.xrangeBuffer(p.stream, '-', '+')) as [Buffer, Buffer[]][];
        perPartition.push(
          entries.map(([, fields]) => {
            const at = fields.findIndex((field) => field.toString() === 'p');
            const decoded = decodeEnvelope(fields[at + 1] as Buffer);
            if (decoded.kind !== 'envelope') throw new Error(`entry is ${decoded.kind}`);
            return parse(decoded.body.toString());
          }),
        );
      }
      return perPartition;
    };
    await expect
      .poll(async () => (await read()).reduce((n, p) => n + p.length, 0), { timeout: 15_000 })
      .toBe(count);
    const streams = await read();
    const used = new Set<number>();
    streams.forEach((entries, index) => {
      for (const entry of entries) {
        // The affinity key, or the publisher id itself, picks the partition.
        expect(rendezvousIndex(entry.key, tags), `${entry.kind} ${entry.key} in partition ${index}`).toBe(
          index,
        );
        used.add(index);
      }
      // Each key's entries, and the id-keyed entries of the partition, are in publish order.
      const byKey = new Map<string, number[]>();
      for (const entry of entries) {
        const group = entry.kind === 'affinity' ? entry.key : 'ids';
        byKey.set(group, [...(byKey.get(group) ?? []), entry.seq]);
      }
      for (const [group, seqs] of byKey)
        expect(seqs, `${group} in partition ${index}`).toEqual([...seqs].sort((a, b) => a - b));
    });
    // The keys really spread: more than one partition took part.
    expect(used.size).toBeGreaterThan(1);

    // One worker, one handler at a time: each affinity key is handled in publish order.
    const handled: Keyed[] = [];
    await f.startWorker(
      async (msg) => {
        handled.push(parse(msg.body.toString()));
      },
      { concurrency: 1 },
    );
    await expect.poll(() => handled.length, { timeout: 20_000 }).toBe(count);
    const affinityKeys = new Set(messages.flatMap((m) => m.options.affinityKey ?? []));
    expect(affinityKeys.size).toBe(4);
    for (const key of affinityKeys) {
      const published = messages.filter((m) => m.options.affinityKey === key).map((m) => parse(m.body).seq);
      const seen = handled.filter((h) => h.kind === 'affinity' && h.key === key).map((h) => h.seq);
      expect(seen, key).toEqual(published);
    }
  } finally {
    await f.close();
  }
}, 60_000);
