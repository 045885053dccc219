import { Publisher } from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { type Fleet, fleet, uniquePrefix } from '../helpers/in-process.js';
import { type Mode, useModeBackend } from '../helpers/mode-backend.js';

/**
 * Per-message options a publisher sets in the envelope (attempts, expiry, handler timeout), through
 * a real leader and real workers on the mode's real store. Priority is lists mode's (its own file).
 */
export function describeMessageOptions(mode: Mode): void {
  const backend = useModeBackend(mode);
  let current: Fleet | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });

  async function setup(name: string, handler: (msg: Message) => Promise<unknown>, extra = {}) {
    const prefix = uniquePrefix(name);
    // A global limit of 4 that the messages' own limits override both ways.
    const config = backend.config(prefix, { REDISPATCH_MAX_ATTEMPTS: '4', ...extra });
    current = fleet(config);
    await current.startDispatcher();
    await current.startWorker(handler);
    await expect.poll(() => current?.leader()?.state, { timeout: 15_000 }).toBe('leading');
    await expect.poll(() => backend.subscribers(config.channel), { timeout: 10_000 }).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { config, publisher: new Publisher({ redis: backend.admin, channel: config.channel }) };
  }

  /** Dead letters by body: their reason. */
  async function deadReasons(config: Parameters<typeof backend.deadLetters>[0]) {
    const letters = await backend.deadLetters(config);
    return new Map(letters.map((l) => [Buffer.from(l.body).toString(), l.reason]));
  }

  /** The body of a dead letter is the payload as published: find a message by its envelope's body. */
  const named = (reasons: Map<string, string>, name: string) =>
    [...reasons.entries()].find(([body]) => body.endsWith(name))?.[1];

  describe(`per-message options: ${mode} mode`, () => {
    it('attempts overrides REDISPATCH_MAX_ATTEMPTS both ways for failing handlers', async () => {
      const calls = new Map<string, number>();
      const { config, publisher } = await setup('attempts', async (msg) => {
        const name = msg.body.toString();
        calls.set(name, (calls.get(name) ?? 0) + 1);
        throw new Error(`fail ${name}`);
      });
      await publisher.publish('two', { attempts: 2 });
      await publisher.publish('global');
      await publisher.publish('seven', { attempts: 7 });
      await expect.poll(async () => (await deadReasons(config)).size, { timeout: 30_000 }).toBe(3);
      expect(Object.fromEntries(calls)).toEqual({ two: 2, global: 4, seven: 7 });
      const reasons = await deadReasons(config);
      expect(named(reasons, 'two')).toMatch(/fail two \(attempt 2 of 2\)$/);
      expect(named(reasons, 'global')).toMatch(/fail global \(attempt 4 of 4\)$/);
      expect(named(reasons, 'seven')).toMatch(/fail seven \(attempt 7 of 7\)$/);
    });

    it('attempts also bounds redelivery after ack timeouts (the leader or reclaim dead-letters it)', async () => {
      const calls = new Map<string, number>();
      const { config, publisher } = await setup(
        'hang',
        async (msg) => {
          const name = msg.body.toString();
          calls.set(name, (calls.get(name) ?? 0) + 1);
          await new Promise(() => {}); // never settles: every attempt ends at the ack timeout
        },
        { REDISPATCH_ACK_TIMEOUT_MS: '600' },
      );
      await publisher.publish('once', { attempts: 1 });
      await expect.poll(async () => (await deadReasons(config)).size, { timeout: 20_000 }).toBe(1);
      // Time for a redelivery the global limit (4) would have allowed.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(calls.get('once')).toBe(1);
      expect(named(await deadReasons(config), 'once')).toMatch(/ack timeout/);
    });

    it('an expired message is dead-lettered "expired" and never handed to a handler', async () => {
      const handled: string[] = [];
      const { config, publisher } = await setup('expiry', async (msg) => {
        handled.push(msg.body.toString());
      });
      // Expired before the leader sees it; and one that expires while parked in the delayed set.
      await publisher.publish('stale', { expiresAt: Date.now() - 1_000 });
      await publisher.publish('parked', { ttlMs: 200, delayMs: 700 });
      await publisher.publish('fresh', { ttlMs: 60_000 });
      await expect.poll(async () => (await deadReasons(config)).size, { timeout: 15_000 }).toBe(2);
      await expect.poll(() => handled, { timeout: 10_000 }).toEqual(['fresh']);
      const reasons = await deadReasons(config);
      expect(named(reasons, 'stale')).toBe('expired');
      expect(named(reasons, 'parked')).toBe('expired');
      expect(handled).toEqual(['fresh']);
    });

    it('timeoutMs aborts the handler at its own timeout and retries, then dead-letters', async () => {
      const runs: { name: string; aborted: unknown }[] = [];
      const { config, publisher } = await setup('timeout', async (msg) => {
        const run = { name: msg.body.toString(), aborted: undefined as unknown };
        runs.push(run);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000); // finishes in 1 s unless aborted
          msg.signal.addEventListener('abort', () => {
            run.aborted = msg.signal.reason;
            clearTimeout(timer);
            resolve();
          });
        });
      });
      await publisher.publish('short', { timeoutMs: 100, attempts: 2 });
      await publisher.publish('plain');
      await expect.poll(async () => (await deadReasons(config)).size, { timeout: 15_000 }).toBe(1);
      expect(named(await deadReasons(config), 'short')).toMatch(
        /HandlerTimeoutError: handler did not finish within 100 ms \(attempt 2 of 2\)$/,
      );
      await expect.poll(() => runs.filter((r) => r.name === 'plain').length, { timeout: 10_000 }).toBe(1);
      const short = runs.filter((r) => r.name === 'short');
      expect(short).toHaveLength(2);
      for (const run of short) expect((run.aborted as Error).name).toBe('HandlerTimeoutError');
      // Without its own timeout a 1 s handler runs to the end under the 2 s ack timeout.
      await expect.poll(async () => (await backend.stats(config)).totals.acked, { timeout: 10_000 }).toBe(1);
      expect(runs.find((r) => r.name === 'plain')?.aborted).toBeUndefined();
    });
  });
}
