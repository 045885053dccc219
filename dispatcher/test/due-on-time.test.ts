import { createKeys, Publisher } from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import { describe, expect, it } from 'vitest';
import { fleet, uniquePrefix } from './helpers/in-process.js';
import { type Mode, useModeBackend } from './helpers/mode-backend.js';

/**
 * Delays and retry backoff are promoted when due, not at the next reap tick: with a 20 s reap
 * interval both arrive long before the first tick after the takeover's own upkeep. Both modes: lists
 * reads one delayed set, streams every partition's.
 */
describe.each(['lists', 'streams'] as Mode[])(
  'the leader arms a timer for the delayed set’s earliest due time (%s mode)',
  (mode) => {
    const backend = useModeBackend(mode);

    it('delivers a delayed message and a backed-off retry without waiting for a reap tick', async () => {
      const reapIntervalMs = 20_000;
      const prefix = uniquePrefix(`due-${mode}`);
      const config = backend.config(prefix, {
        REDISPATCH_REAP_INTERVAL_MS: String(reapIntervalMs),
        REDISPATCH_DUE_CHECK_MS: '10',
        REDISPATCH_BACKOFF_BASE_MS: '200',
      });
      const events: { name: string; attempt: number; at: number }[] = [];
      const f = fleet(config);
      try {
        // The worker first: the takeover's own upkeep (the last one for 20 s) must learn it.
        await f.startWorker(async (msg: Message) => {
          const name = msg.body.toString();
          events.push({ name, attempt: msg.attempt, at: Date.now() });
          if (name === 'retry' && msg.attempt === 1) throw new Error('first attempt fails');
        });
        await expect
          .poll(async () => backend.admin.zcard(createKeys(prefix).workers), { timeout: 10_000 })
          .toBe(1);
        await f.startDispatcher();
        await expect.poll(() => f.leader()?.state, { timeout: 15_000 }).toBe('leading');
        const takeoverAt = Date.now();
        await expect.poll(() => backend.subscribers(config.channel), { timeout: 10_000 }).toBeGreaterThan(0);
        const publisher = new Publisher({ redis: backend.admin, channel: config.channel });
        await publisher.publish('delayed', { delayMs: 500 });
        await publisher.publish('retry');
        await expect.poll(() => events.length, { timeout: reapIntervalMs / 2 }).toBe(3);
        const done = Math.max(...events.map((e) => e.at));
        // Before the first reap tick after the takeover: only the due timer could have promoted them.
        expect(done - takeoverAt).toBeLessThan(reapIntervalMs);
        expect(events.map((e) => `${e.name}#${e.attempt}`).sort()).toEqual([
          'delayed#1',
          'retry#1',
          'retry#2',
        ]);
        const first = events.find((e) => e.name === 'retry' && e.attempt === 1)?.at ?? 0;
        const second = events.find((e) => e.name === 'retry' && e.attempt === 2)?.at ?? 0;
        // Not early: the backoff (at least half of 200 ms, jittered) was honoured.
        expect(second - first).toBeGreaterThanOrEqual(90);
      } finally {
        await f.close();
      }
    });
  },
);
