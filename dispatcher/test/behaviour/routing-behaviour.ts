import { performance } from 'node:perf_hooks';
import { encodeEnvelope, Publisher } from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPayload, publishLoad } from '../../src/cli/command-publish.js';
import { seqOf, summarize } from '../helpers/checker.js';
import { type Fleet, fleet, uniquePrefix } from '../helpers/in-process.js';
import { type Mode, useModeBackend } from '../helpers/mode-backend.js';

/**
 * The behaviour both routing modes promise alike (DESIGN.md "Guarantees"), run once per mode
 * against its real store: a redis-server for lists, a 3-master Redis Cluster for streams.
 */
export function describeRoutingBehaviour(mode: Mode): void {
  const backend = useModeBackend(mode);
  let current: Fleet | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });

  function setup(name: string, extra: Record<string, string> = {}) {
    const prefix = uniquePrefix(name);
    const config = backend.config(prefix, extra);
    current = fleet(config);
    return { config, f: current };
  }

  /** Records which worker handled which sequence number of `runId`. */
  function recorder(runId: string) {
    const seen = new Map<number, number>();
    const byWorker = new Map<string, number>();
    const handler = (workerName: string) => async (msg: Message) => {
      const seq = seqOf(msg.body, runId);
      if (seq === undefined) return;
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
      byWorker.set(workerName, (byWorker.get(workerName) ?? 0) + 1);
    };
    return { seen, byWorker, handler };
  }

  /** A leader is elected, it subscribed, and its upkeep has seen the workers started so far. */
  async function ready(f: Fleet, channel: string) {
    await expect.poll(() => f.leader()?.state, { timeout: 15_000 }).toBe('leading');
    await expect.poll(() => backend.subscribers(channel), { timeout: 10_000 }).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }

  describe(`routing behaviour shared by both modes: ${mode} mode`, () => {
    it('elects exactly one leader among three dispatchers, visible in stats', async () => {
      const { f, config } = setup('elect');
      await Promise.all([f.startDispatcher(), f.startDispatcher(), f.startDispatcher()]);
      await expect.poll(() => f.leader()?.state, { timeout: 15_000 }).toBe('leading');
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(f.dispatchers.filter((d) => d.state === 'leading')).toHaveLength(1);
      expect(f.dispatchers.filter((d) => d.state === 'standby')).toHaveLength(2);
      const stats = await backend.stats(config);
      expect(stats.mode).toBe(mode);
      expect(stats.leader?.id).toBe(f.leader()?.id);
      expect(stats.leader?.epoch).toBe(f.leader()?.epoch);
    });

    it('hands every message to exactly one of three workers, and every worker gets work', async () => {
      const { f, config } = setup('spread');
      const rec = recorder('spread');
      await f.startDispatcher();
      for (const name of ['a', 'b', 'c']) await f.startWorker(rec.handler(name), { id: name });
      await ready(f, config.channel);
      const count = 3_000;
      await publishLoad(backend.admin, config.channel, { count, rate: 0, size: 50, runId: 'spread' });
      await expect.poll(() => summarize(rec.seen, count).lost, { timeout: 30_000 }).toBe(0);
      expect(summarize(rec.seen, count).duplicates).toBe(0);
      for (const name of ['a', 'b', 'c']) expect(rec.byWorker.get(name) ?? 0).toBeGreaterThan(count / 10);
      await expect
        .poll(async () => (await backend.stats(config)).totals.acked, { timeout: 10_000 })
        .toBe(count);
      const stats = await backend.stats(config);
      expect(stats.totals.accepted).toBe(count);
      expect(stats.inflight + stats.delayed + stats.backlog + stats.deadLetters).toBe(0);
    });

    it('retries a failing message with growing backoff, then dead-letters it with the error text', async () => {
      const { f, config } = setup('retry', { REDISPATCH_MAX_ATTEMPTS: '4' });
      const attempts: { attempt: number; at: number }[] = [];
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        attempts.push({ attempt: msg.attempt, at: performance.now() });
        throw new Error(`refused attempt ${msg.attempt}`);
      });
      await ready(f, config.channel);
      await backend.admin.publish(config.channel, 'poison');
      await expect.poll(async () => (await backend.deadLetters(config)).length, { timeout: 15_000 }).toBe(1);
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
      // Backoff base 50 ms doubling, jittered into [ceiling/2, ceiling]: retry k waits at least 25·2^(k-1) ms
      // (promotion adds up to one upkeep interval on top, so only lower bounds are exact).
      const gaps = attempts.slice(1).map((a, i) => a.at - (attempts[i]?.at ?? 0));
      expect(gaps[0]).toBeGreaterThanOrEqual(20);
      expect(gaps[1]).toBeGreaterThanOrEqual(45);
      expect(gaps[2]).toBeGreaterThanOrEqual(95);
      const [letter] = await backend.deadLetters(config);
      expect(letter?.reason).toBe('Error: refused attempt 4 (attempt 4 of 4)');
      expect(letter?.attempts).toBe(4);
      expect(letter?.body.toString()).toBe('poison');
      const stats = await backend.stats(config);
      expect(stats.deadLetters).toBe(1);
      expect(stats.totals.deadLettered).toBe(1);
      expect(stats.inflight + stats.delayed + stats.backlog).toBe(0);
    });

    it('lists, replays (fresh attempts) and purges dead letters', async () => {
      const { f, config } = setup('dlq', { REDISPATCH_MAX_ATTEMPTS: '1' });
      let healed = false;
      const handled: string[] = [];
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        if (!healed) throw new Error('not yet');
        handled.push(`${msg.body.toString()}@${msg.attempt}`);
      });
      await ready(f, config.channel);
      for (const body of ['one', 'two', 'three']) await backend.admin.publish(config.channel, body);
      await expect.poll(async () => (await backend.deadLetters(config)).length, { timeout: 10_000 }).toBe(3);
      const letters = await backend.deadLetters(config);
      expect(letters.map((l) => l.body.toString()).sort()).toEqual(['one', 'three', 'two']);
      healed = true;
      const two = letters.find((l) => l.body.toString() === 'two');
      expect(await backend.replayDeadLetters(config, [two?.id ?? ''])).toBe(1);
      await expect.poll(() => handled, { timeout: 10_000 }).toEqual(['two@1']);
      expect(await backend.purgeDeadLetters(config)).toBe(2);
      expect(await backend.deadLetters(config)).toEqual([]);
      expect(await backend.replayDeadLetters(config, 'all')).toBe(0);
    });

    it('redelivers a message whose handler hangs past the ack timeout to another worker', async () => {
      const { f, config } = setup('hang', { REDISPATCH_ACK_TIMEOUT_MS: '700' });
      const handledBy: string[] = [];
      await f.startDispatcher();
      await f.startWorker(
        async (msg) => {
          handledBy.push(`hanger:${msg.attempt}`);
          await new Promise(() => {});
        },
        { id: 'hanger' },
      );
      await ready(f, config.channel);
      await backend.admin.publish(config.channel, 'slow-one');
      await expect.poll(() => handledBy.length, { timeout: 5_000 }).toBe(1);
      await f.startWorker(
        async (msg) => {
          handledBy.push(`rescuer:${msg.attempt}`);
        },
        { id: 'rescuer' },
      );
      await expect
        .poll(() => handledBy.some((h) => h.startsWith('rescuer:')), { timeout: 15_000 })
        .toBe(true);
      expect(handledBy[0]).toBe('hanger:1');
      expect(handledBy.find((h) => h.startsWith('rescuer:'))).toMatch(/rescuer:[2-9]/);
    });

    it('drains a worker gracefully: in-flight work finishes and is acked, the rest goes to another worker', async () => {
      const { f, config } = setup('drain', { REDISPATCH_QUEUE_HIGH_WATER: '1000' });
      const rec = recorder('drain');
      await f.startDispatcher();
      const drainer = await f.startWorker(
        async (msg) => {
          await new Promise((resolve) => setTimeout(resolve, 200));
          await rec.handler('drainer')(msg);
        },
        { id: 'drainer', concurrency: 2 },
      );
      await ready(f, config.channel);
      const count = 20;
      await publishLoad(backend.admin, config.channel, { count, rate: 0, size: 20, runId: 'drain' });
      await expect.poll(async () => (await backend.stats(config)).inflight, { timeout: 5_000 }).toBe(2);
      await f.startWorker(rec.handler('other'), { id: 'other' });
      await drainer.close();
      expect(drainer.state).toBe('stopped');
      expect(rec.byWorker.get('drainer')).toBeGreaterThanOrEqual(2);
      await expect.poll(() => summarize(rec.seen, count).lost, { timeout: 15_000 }).toBe(0);
      expect(summarize(rec.seen, count).duplicates).toBe(0);
      const stats = await backend.stats(config);
      expect(stats.totals.redelivered).toBe(0);
    });

    it('never runs more handlers than --concurrency, even with prefetched messages waiting', async () => {
      const { f, config } = setup('prefetch');
      const rec = recorder('pf');
      let running = 0;
      let maxRunning = 0;
      await f.startDispatcher();
      await f.startWorker(
        async (msg) => {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          await new Promise((resolve) => setTimeout(resolve, 10));
          running -= 1;
          await rec.handler('w')(msg);
        },
        { concurrency: 2, prefetch: 6 },
      );
      await ready(f, config.channel);
      await publishLoad(backend.admin, config.channel, { count: 100, rate: 0, size: 20, runId: 'pf' });
      await expect.poll(() => summarize(rec.seen, 100).lost, { timeout: 15_000 }).toBe(0);
      expect(maxRunning).toBe(2);
      expect(summarize(rec.seen, 100).duplicates).toBe(0);
    });

    // Regression test (found while chasing fault 6b's flake): prefetched messages whose claim expired during a stall were
    // dropped uncounted when a finishing handler freed a slot before the deadline sweep ran.
    it('counts prefetched messages whose claim expired during a stall as handler timeouts, and loses none', async () => {
      const { f, config } = setup('pfexp');
      const rec = recorder('px');
      let stalled = false;
      await f.startDispatcher();
      const worker = await f.startWorker(
        async (msg) => {
          if (!stalled) {
            stalled = true;
            // Time for the other two to be claimed into the prefetch buffer, then block the event loop
            // past the ack timeout: no timer (so no deadline sweep) runs until this handler settles.
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            const until = performance.now() + config.ackTimeoutMs + 500;
            while (performance.now() < until) {}
          }
          await rec.handler('w')(msg);
        },
        { concurrency: 1, prefetch: 4 },
      );
      await ready(f, config.channel);
      await publishLoad(backend.admin, config.channel, { count: 3, rate: 0, size: 20, runId: 'px' });
      // The two prefetched ones go back to the leader and are delivered again.
      await expect.poll(() => summarize(rec.seen, 3).lost, { timeout: 20_000 }).toBe(0);
      const timeouts = await worker.registry.getSingleMetric('redispatch_handler_timeouts_total')?.get();
      expect(timeouts?.values[0]?.value).toBe(2);
    }, 40_000);

    it('dead-letters oversize payloads and malformed headers with the reason, and routes the rest', async () => {
      const { f, config } = setup('reject', { REDISPATCH_MAX_PAYLOAD_BYTES: '64' });
      const rec = recorder('rj');
      await f.startDispatcher();
      await f.startWorker(rec.handler('w'));
      await ready(f, config.channel);
      await backend.admin.publish(config.channel, loadPayload('rj', 0, 10));
      await backend.admin.publish(config.channel, loadPayload('rj', 1, 100));
      // The envelope marker byte with a version no parser knows.
      await backend.admin.publish(config.channel, Buffer.from([0xfe, 0x7f, 0x00, 0x01]));
      await backend.admin.publish(config.channel, loadPayload('rj', 2, 10));
      await expect.poll(() => rec.seen.size, { timeout: 10_000 }).toBe(2);
      await expect.poll(async () => (await backend.deadLetters(config)).length, { timeout: 10_000 }).toBe(2);
      const reasons = (await backend.deadLetters(config)).map((l) => l.reason).sort();
      expect(reasons[0]).toMatch(/^malformed envelope: /);
      expect(reasons[1]).toMatch(/^oversize: 100 bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=64/);
    });

    it('delivers binary payloads byte-exact, with and without an envelope', async () => {
      const { f, config } = setup('binary');
      const bodies: Buffer[] = [];
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        bodies.push(Buffer.from(msg.body));
      });
      await ready(f, config.channel);
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i).filter((b) => b !== 0xfe));
      const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
      await backend.admin.publish(config.channel, Buffer.concat([Buffer.from([0]), every]));
      await backend.admin.publish(config.channel, encodeEnvelope({ id: 'bin-1' }, random));
      await expect.poll(() => bodies.length, { timeout: 10_000 }).toBe(2);
      const sorted = [...bodies].sort((a, b) => a.length - b.length);
      expect(sorted[0]?.equals(Buffer.concat([Buffer.from([0]), every]))).toBe(true);
      expect(sorted[1]?.equals(random)).toBe(true);
    });

    it('hands the caller identity from the envelope to the handler as msg.header.identity', async () => {
      const { f, config } = setup('identity');
      const seen = new Map<string, string | undefined>();
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        seen.set(msg.body.toString(), msg.header?.identity);
      });
      await ready(f, config.channel);
      const publisher = new Publisher({ redis: backend.admin, channel: config.channel });
      await publisher.publish('with', { identity: 'user:alice@example.com', id: 'm-1' });
      await publisher.publish('without', { id: 'm-2' });
      // A record type this code does not know (a later extension) is skipped, not dead-lettered.
      // FE 01 40, block of 10 bytes: record type 0x09 (1 byte), then identity (0x01) "bob"; body "later".
      const later = Buffer.concat([Buffer.from('fe0140000a09000100010003', 'hex'), Buffer.from('boblater')]);
      await backend.admin.publish(config.channel, later);
      await expect.poll(() => seen.size, { timeout: 10_000 }).toBe(3);
      expect(Object.fromEntries(seen)).toEqual({
        with: 'user:alice@example.com',
        without: undefined,
        later: 'bob',
      });
      expect(await backend.deadLetters(config)).toEqual([]);
    });

    it('delivers delayed messages no earlier than their delay, in due order', async () => {
      const { f, config } = setup('delay');
      const seen: { body: string; at: number }[] = [];
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        seen.push({ body: msg.body.toString(), at: Date.now() });
      });
      await ready(f, config.channel);
      const sentAt = Date.now();
      await backend.admin.publish(config.channel, encodeEnvelope({ delayMs: 900 }, Buffer.from('late')));
      await backend.admin.publish(config.channel, encodeEnvelope({ delayMs: 400 }, Buffer.from('soon')));
      await backend.admin.publish(config.channel, 'now');
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(3);
      expect(seen.map((s) => s.body)).toEqual(['now', 'soon', 'late']);
      expect((seen[1]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(400 - 20);
      expect((seen[2]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(900 - 20);
    });

    it('routes a message published twice with the same publisher id once', async () => {
      const { f, config } = setup('dedupe');
      const seen: string[] = [];
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        seen.push(msg.body.toString());
      });
      await ready(f, config.channel);
      const first = encodeEnvelope({ id: 'order-42' }, Buffer.from('charge'));
      await backend.admin.publish(config.channel, first);
      await backend.admin.publish(config.channel, first);
      await backend.admin.publish(
        config.channel,
        encodeEnvelope({ id: 'order-43' }, Buffer.from('charge-2')),
      );
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(seen.sort()).toEqual(['charge', 'charge-2']);
      expect((await backend.stats(config)).totals.deduplicated).toBe(1);
    });

    it('dedupes a publisher id per namespace (record 0x08): other namespaces and the global ids are apart', async () => {
      const { f, config } = setup('dedupe-ns');
      const seen: string[] = [];
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        seen.push(`${msg.header?.namespace ?? '-'}:${msg.body.toString()}`);
      });
      await ready(f, config.channel);
      const send = (namespace: string | undefined, body: string) =>
        backend.admin.publish(
          config.channel,
          encodeEnvelope({ id: 'order-42', namespace }, Buffer.from(body)),
        );
      await send('tenant-a', 'a1');
      await send('tenant-b', 'b1');
      await send('tenant-a', 'a2'); // same namespace, same id: suppressed
      await send(undefined, 'global');
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(seen.sort()).toEqual(['-:global', 'tenant-a:a1', 'tenant-b:b1']);
      expect((await backend.stats(config)).totals.deduplicated).toBe(1);
    });

    it('keeps accepted messages while no worker is live, and delivers them when one registers', async () => {
      const { f, config } = setup('noworker');
      const rec = recorder('nw');
      await f.startDispatcher();
      await ready(f, config.channel);
      await publishLoad(backend.admin, config.channel, { count: 50, rate: 0, size: 20, runId: 'nw' });
      await expect.poll(async () => (await backend.stats(config)).backlog, { timeout: 5_000 }).toBe(50);
      await f.startWorker(rec.handler('late'));
      await expect.poll(() => summarize(rec.seen, 50).lost, { timeout: 10_000 }).toBe(0);
    });

    it('fences a leader whose epoch was superseded: it steps down at once and writes nothing', async () => {
      const { f, config } = setup('fence');
      const d = await f.startDispatcher();
      await ready(f, config.channel);
      await backend.supersede(config);
      await backend.admin.publish(config.channel, 'after-fence');
      await expect.poll(() => d.state, { timeout: 5_000 }).toBe('standby');
      expect(await backend.stored(config)).toBe(0);
    });
  });
}
