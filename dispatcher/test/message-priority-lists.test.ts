import { createKeys, Publisher } from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { type Fleet, fleet, uniquePrefix } from './helpers/in-process.js';
import { useModeBackend } from './helpers/mode-backend.js';

/**
 * Priority in lists mode, through a real leader and worker: one worker taking one message at a time,
 * held on its first message (a gate) while the rest queue up, so the order it then handles them in
 * is what the leader's routing decided — no timing in the assertions.
 */
const backend = useModeBackend('lists');
let current: Fleet | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function gatedWorker(name: string, extra: Record<string, string> = {}) {
  const prefix = uniquePrefix(name);
  const config = backend.config(prefix, { REDISPATCH_ACK_TIMEOUT_MS: '10000', ...extra });
  current = fleet(config);
  const handled: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  await current.startDispatcher();
  await current.startWorker(
    async (msg: Message) => {
      handled.push(msg.body.toString());
      await gate;
    },
    { concurrency: 1, prefetch: 0 },
  );
  await expect.poll(() => current?.leader()?.state, { timeout: 15_000 }).toBe('leading');
  await expect.poll(() => backend.subscribers(config.channel), { timeout: 10_000 }).toBeGreaterThan(0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const keys = createKeys(prefix);
  /** Messages waiting for the worker: its queue plus the backlog. */
  const waiting = async () =>
    (await backend.admin.llen(keys.queue('w1'))) + (await backend.admin.llen(keys.backlog));
  const publisher = new Publisher({ redis: backend.admin, channel: config.channel });
  const lows = Array.from({ length: 30 }, (_, i) => `low-${i}`);
  return { handled, open, waiting, publisher, lows };
}

describe('priority: lists mode', () => {
  it('a burst of low then one high: the high one is handled before every queued low, backlog included', async () => {
    // High water 10: most lows wait in the backlog, the high one still goes to the head of the queue.
    const w = await gatedWorker('prio-burst', { REDISPATCH_QUEUE_HIGH_WATER: '10' });
    await w.publisher.publishBatch(w.lows.map((body) => ({ body })));
    await expect.poll(() => w.handled, { timeout: 10_000 }).toEqual(['low-0']);
    await expect.poll(w.waiting, { timeout: 10_000 }).toBe(29);
    await w.publisher.publish('high', { priority: 9 });
    await expect.poll(w.waiting, { timeout: 10_000 }).toBe(30);
    w.open();
    await expect.poll(() => w.handled.length, { timeout: 20_000 }).toBe(31);
    expect(w.handled).toEqual(['low-0', 'high', ...w.lows.slice(1)]);
  });

  it('higher priorities first, equal ones in publish order, delayed ones too once due', async () => {
    const w = await gatedWorker('prio-order');
    await w.publisher.publishBatch(w.lows.map((body) => ({ body })));
    await expect.poll(() => w.handled, { timeout: 10_000 }).toEqual(['low-0']);
    await w.publisher.publish('p3', { priority: 3 });
    await w.publisher.publish('p9-a', { priority: 9 });
    await w.publisher.publish('p0', { priority: 0 });
    await w.publisher.publish('p5', { priority: 5 });
    await w.publisher.publish('p9-b', { priority: 9 });
    await w.publisher.publish('due-p7', { priority: 7, delayMs: 300 });
    await expect.poll(w.waiting, { timeout: 10_000 }).toBe(29 + 6);
    w.open();
    await expect.poll(() => w.handled.length, { timeout: 20_000 }).toBe(36);
    expect(w.handled).toEqual(['low-0', 'p9-a', 'p9-b', 'due-p7', 'p5', 'p3', ...w.lows.slice(1), 'p0']);
  });
});
