import { ConfigError, createKeys, loadPartitions, planPartitionTags } from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import type { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { publishLoad } from '../src/cli/command-publish.js';
import { seqOf, summarize } from './helpers/checker.js';
import { type Fleet, fleet, uniquePrefix } from './helpers/in-process.js';
import { useModeBackend } from './helpers/mode-backend.js';

// Streams-mode behaviour that has no lists-mode twin: partitions over masters, per-partition fences,
// XAUTOCLAIM dead-lettering, trimming below the oldest pending entry, consumer clean-up.
const backend = useModeBackend('streams');
let current: Fleet | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

function setup(name: string, extra: Record<string, string> = {}) {
  const prefix = uniquePrefix(name);
  const config = backend.config(prefix, extra);
  current = fleet(config);
  return { config, f: current, keys: createKeys(prefix) };
}

async function ready(f: Fleet, channel: string) {
  await expect.poll(() => f.leader()?.state, { timeout: 15_000 }).toBe('leading');
  await expect.poll(() => backend.subscribers(channel), { timeout: 10_000 }).toBeGreaterThan(0);
  await new Promise((resolve) => setTimeout(resolve, 300));
}

async function partitionsOf(prefix: string, count = 6) {
  return loadPartitions(backend.admin, createKeys(prefix), prefix, count);
}

describe('streams mode on a 3-master Redis Cluster', () => {
  it('spreads 6 partitions two per master, and stats shows where each lives', async () => {
    const { f, config } = setup('spread');
    await f.startDispatcher();
    await ready(f, config.channel);
    const stats = await backend.stats(config);
    const rows = stats.partitions ?? [];
    expect(rows).toHaveLength(6);
    const perMaster = new Map<string, number>();
    for (const row of rows) perMaster.set(row.node, (perMaster.get(row.node) ?? 0) + 1);
    expect([...perMaster.values()]).toEqual([2, 2, 2]);
    for (const row of rows) {
      const owner = await backend.cluster?.ownerOf(row.slot);
      expect(row.node).toBe(`${owner?.host}:${owner?.port}`);
    }
    expect(new Set(rows.map((r) => r.slot)).size).toBe(6);
  });

  it('refuses a partition count other than the one the deployment was created with, naming the setting', async () => {
    const { f, config } = setup('fixed');
    await f.startDispatcher();
    await ready(f, config.channel);
    const error = await partitionsOf(config.prefix, 4).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems[0]).toMatch(
      /^REDISPATCH_PARTITIONS is 4 but .* created with 6 partitions/,
    );
  });

  // Prefixes may contain ':', so prefix "p:1" would share every key of prefix "p"'s partition 1
  // ({p:1}:totals, {p:1}:progress, …). Whichever deployment starts second is refused, writing nothing.
  it('refuses a prefix whose keys another deployment shares, from either side, naming the setting', async () => {
    const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const { f, config } = setup('nest');
    await f.startDispatcher();
    await ready(f, config.channel);
    const child = (await partitionsOf(config.prefix))[1]?.tag.slice(1, -1) ?? '';
    expect(child.startsWith(`${config.prefix}:1`)).toBe(true);
    const childFleet = fleet(backend.config(child));
    try {
      const error = await childFleet.startDispatcher().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems[0]).toMatch(
        new RegExp(
          `^REDISPATCH_PREFIX "${escapeRegExp(child)}" is a partition of the streams deployment with prefix "${escapeRegExp(config.prefix)}"`,
        ),
      );
    } finally {
      await childFleet.close();
    }
    expect(await backend.admin.get(createKeys(child).partitions)).toBeNull();
    expect(await backend.admin.get(createKeys(child).epoch)).toBeNull();

    // The other way round: the deployment named like a partition of the new one runs first.
    const parent = uniquePrefix('nestp');
    const [firstTag = ''] = await planPartitionTags(backend.admin, parent, 6);
    const earlier = fleet(backend.config(firstTag));
    const later = fleet(backend.config(parent));
    try {
      await earlier.startDispatcher();
      await expect.poll(() => earlier.leader()?.state, { timeout: 15_000 }).toBe('leading');
      const error = await later.startDispatcher().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems[0]).toMatch(
        new RegExp(
          `^REDISPATCH_PREFIX "${escapeRegExp(parent)}": another deployment on this Redis has the prefix "${escapeRegExp(firstTag)}"`,
        ),
      );
      expect(await backend.admin.get(createKeys(parent).partitions)).toBeNull();
      // The deployment that was there first is untouched and still leads.
      expect(earlier.leader()?.state).toBe('leading');
    } finally {
      await later.close();
      await earlier.close();
    }
  });

  it("rejects a stale leader's write on the partition whose fence a newer leader raised", async () => {
    const { f, config } = setup('pfence');
    const d = await f.startDispatcher();
    await ready(f, config.channel);
    const [first] = await partitionsOf(config.prefix);
    if (!first) throw new Error('no partition');
    // A newer leader raised only partition 0 so far; the old one still writes round-robin.
    await backend.admin.set(first.fence, d.epoch + 1);
    const before = await backend.admin.xlen(first.stream);
    for (let i = 0; i < 12 && d.state === 'leading'; i++) {
      await backend.admin.publish(config.channel, `m${i}`);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await expect.poll(() => d.state, { timeout: 5_000 }).not.toBe('leading');
    expect(await backend.admin.xlen(first.stream)).toBe(before);
    const reply = await backend.admin.rdStreamAppend(
      first.fence,
      first.stream,
      first.applied,
      first.progress,
      first.delayed,
      first.delayedBody,
      first.dlq,
      first.totals,
      first.delayedAttempts,
      first.priorityStream,
      String(d.epoch),
      `${d.epoch}:999`,
      '',
      config.consumerGroup,
      1000,
      first.dedupePrefix,
      1,
      0,
      'stale-1',
      'payload',
      '',
      '',
    );
    expect(reply).toEqual([-1]);
  });

  it('dead-letters an entry nobody acknowledges after max deliveries, with the reason', async () => {
    const { f, config } = setup('poison', {
      REDISPATCH_ACK_TIMEOUT_MS: '400',
      REDISPATCH_MAX_ATTEMPTS: '3',
      REDISPATCH_DRAIN_TIMEOUT_MS: '300',
    });
    const attempts: number[] = [];
    await f.startDispatcher();
    await f.startWorker(async (msg) => {
      attempts.push(msg.attempt);
      await new Promise(() => {});
    });
    await ready(f, config.channel);
    await backend.admin.publish(config.channel, 'never-acked');
    await expect.poll(async () => (await backend.deadLetters(config)).length, { timeout: 15_000 }).toBe(1);
    expect(attempts).toEqual([1, 2, 3]);
    const [letter] = await backend.deadLetters(config);
    expect(letter?.reason).toBe('ack timeout: not acknowledged after 3 deliveries (max 3)');
    expect(letter?.body.toString()).toBe('never-acked');
    const stats = await backend.stats(config);
    expect(stats.inflight).toBe(0);
    expect(stats.totals.deadLettered).toBe(1);
  });

  it('trims acknowledged entries, but never past the oldest pending entry of a partition', async () => {
    const { f, config } = setup('trimpin', {
      REDISPATCH_ACK_TIMEOUT_MS: '60000',
      REDISPATCH_DRAIN_TIMEOUT_MS: '300',
    });
    const held: Message[] = [];
    const seen = new Map<number, number>();
    await f.startDispatcher();
    await f.startWorker(async (msg) => {
      const seq = seqOf(msg.body, 'pin');
      if (seq === undefined) return;
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
      // A few messages stay pending for the whole test (their handlers never finish).
      if (seq % 400 === 200) {
        held.push(msg);
        await new Promise(() => {});
      }
    });
    await ready(f, config.channel);
    const partitions = await partitionsOf(config.prefix);
    const count = 2_000;
    await publishLoad(backend.admin, config.channel, { count, rate: 2_000, size: 50, runId: 'pin' });
    await expect.poll(() => summarize(seen, count).lost, { timeout: 20_000 }).toBe(0);
    // Let a few upkeep ticks trim.
    await new Promise((resolve) => setTimeout(resolve, 600));
    let trimmedSomewhere = false;
    let pendingTotal = 0;
    for (const p of partitions) {
      const rows = (await backend.admin.xpending(p.stream, config.consumerGroup, '-', '+', 100)) as [
        string,
      ][];
      pendingTotal += rows.length;
      for (const [id] of rows) expect(await backend.admin.xrange(p.stream, id, id)).toHaveLength(1);
      const [oldest] = await backend.admin.xrange(p.stream, '-', '+', 'COUNT', 1);
      if (rows.length > 0) {
        // Trimmed exactly up to the oldest pending entry, not one entry further.
        expect(oldest?.[0]).toBe(rows[0]?.[0]);
        trimmedSomewhere ||= (await backend.admin.xlen(p.stream)) < count / partitions.length;
      } else {
        expect(await backend.admin.xlen(p.stream)).toBe(0);
      }
    }
    expect(pendingTotal).toBe(held.length);
    expect(held.length).toBe(count / 400);
    expect(trimmedSomewhere).toBe(true);
  });

  // Named for what it checks: the length the streams hold *past delivery* stays bounded (the undelivered
  // backlog depends on how busy the box is, so it is reported, not bounded), Redis memory does not grow
  // from the first half of the run to the second, and the streams are empty once drained.
  it('trims delivered entries under steady load: held-after-delivery stays under count/8, memory does not grow, empty once drained', async () => {
    const { f, config } = setup('flat');
    const seen = new Map<number, number>();
    await f.startDispatcher();
    for (const id of ['a', 'b'])
      await f.startWorker(
        async (msg) => {
          const seq = seqOf(msg.body, 'flat');
          if (seq !== undefined) seen.set(seq, (seen.get(seq) ?? 0) + 1);
        },
        { id },
      );
    await ready(f, config.channel);
    const partitions = await partitionsOf(config.prefix);
    const masters = (await backend.cluster?.masters()) ?? [];
    const usedMemory = async () => {
      let total = 0;
      for (const { node } of masters) {
        // Streams mode: the admin client is a Cluster.
        const info = await (backend.admin as Cluster)
          .nodes('master')
          .find((n) => n.options.port === node.port)
          ?.info('memory');
        total += Number(/used_memory:(\d+)/.exec(info ?? '')?.[1] ?? 0);
      }
      return total;
    };
    // Per partition: its length, and how much of it the group has not been handed yet (XINFO lag).
    // Undelivered entries are the consumers' backlog, which no trim may touch; what trimming answers
    // for is the rest, entries already delivered that are still held.
    const partitionSample = async (stream: string) => {
      const [length, groups] = await Promise.all([
        backend.admin.xlen(stream),
        backend.admin.xinfo('GROUPS', stream) as Promise<unknown[][]>,
      ]);
      const group = groups.find((g) => g[g.indexOf('name') + 1] === config.consumerGroup) ?? [];
      const lag = group[group.indexOf('lag') + 1];
      // An unknown lag (null) counts as nothing undelivered: the whole length is then held against trimming.
      return { length, undelivered: typeof lag === 'number' ? lag : 0 };
    };
    const samples: { length: number; undelivered: number; memory: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rows = await Promise.all(partitions.map((p) => partitionSample(p.stream)));
        samples.push({
          length: rows.reduce((a, r) => a + r.length, 0),
          undelivered: rows.reduce((a, r) => a + r.undelivered, 0),
          memory: await usedMemory(),
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const count = 8_000;
    await publishLoad(backend.admin, config.channel, { count, rate: 2_000, size: 200, runId: 'flat' });
    await expect.poll(() => summarize(seen, count).lost, { timeout: 20_000 }).toBe(0);
    await expect
      .poll(
        async () =>
          (await Promise.all(partitions.map((p) => backend.admin.xlen(p.stream)))).reduce((a, b) => a + b, 0),
        {
          timeout: 10_000,
        },
      )
      .toBe(0);
    sampling = false;
    await sampler;
    // Steady phase: skip the first second (start-up), compare the two halves of the rest.
    const steady = samples.slice(5, Math.max(6, samples.length - 2));
    const half = Math.floor(steady.length / 2);
    const maxOf = (rows: typeof steady, pick: (s: (typeof steady)[number]) => number) =>
      Math.max(...rows.map(pick));
    const firstHalfMemory = maxOf(steady.slice(0, half), (s) => s.memory);
    const secondHalfMemory = maxOf(steady.slice(half), (s) => s.memory);
    const held = (s: (typeof steady)[number]) => s.length - s.undelivered;
    console.info(
      `flat: max stream length ${maxOf(steady, (s) => s.length)} of ${count} passed ` +
        `(max delivered and still held ${maxOf(steady, held)}, max undelivered ${maxOf(steady, (s) => s.undelivered)}); ` +
        `Redis used_memory max ${(firstHalfMemory / 1e6).toFixed(2)} MB (first half) vs ${(secondHalfMemory / 1e6).toFixed(2)} MB (second half)`,
    );
    // 8,000 messages x 200 B would be > 1.6 MB if nothing were trimmed; of what was delivered, the
    // streams hold a few batches. (How far the consumers lag behind the publisher depends on how busy
    // the box is, so the undelivered backlog is reported above, not bounded.)
    expect(maxOf(steady, held)).toBeLessThan(count / 8);
    expect(secondHalfMemory).toBeLessThan(firstHalfMemory + 1_000_000);
  });

  it('removes the consumer of a worker that left once it owns nothing', async () => {
    const { f, config } = setup('consumers');
    await f.startDispatcher();
    const leaver = await f.startWorker(async () => {}, { id: 'leaver' });
    await f.startWorker(async () => {}, { id: 'stayer' });
    await ready(f, config.channel);
    await publishLoad(backend.admin, config.channel, { count: 200, rate: 0, size: 20, runId: 'c' });
    const [first] = await partitionsOf(config.prefix);
    const names = async () =>
      ((await backend.admin.xinfo('CONSUMERS', first?.stream ?? '', config.consumerGroup)) as string[][])
        .map((row) => row[1])
        .sort();
    await expect.poll(names, { timeout: 10_000 }).toEqual(['leaver', 'stayer']);
    await leaver.close();
    await expect.poll(names, { timeout: 10_000 }).toEqual(['stayer']);
  });
});
