import {
  createKeys,
  decodeOutboundEntry,
  newSessionId,
  Publisher,
  ReplyAfterSettleError,
  relayAddress,
} from '@redispatch/shared';
import type { Message } from '@redispatch/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { type Fleet, fleet, testConfig, uniquePrefix } from '../../dispatcher/test/helpers/in-process.js';
import { useProcessFixture } from '../../dispatcher/test/helpers/process-fixture.js';

const fx = useProcessFixture();
let running: Fleet | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function setup(handler: (msg: Message) => unknown) {
  const prefix = uniquePrefix('replies');
  const config = testConfig(fx.redis.url, prefix);
  running = fleet(config);
  await running.startDispatcher();
  await running.startWorker(handler);
  await expect.poll(() => running?.leader() !== undefined, { timeout: 10_000 }).toBe(true);
  const keys = createKeys(prefix);
  // A registered relay, so replies to it are queued (not dead-lettered as unknown_relay).
  await fx.admin.zadd(keys.relays, Date.now(), 'r1');
  const publisher = new Publisher({ redis: fx.admin, channel: config.channel });
  return { keys, publisher };
}

describe('worker replies', () => {
  it('a nack discards the replies of that attempt; only the acked attempt replies', async () => {
    const { keys, publisher } = await setup(async (msg) => {
      msg.reply(`attempt ${msg.attempt}`);
      if (msg.attempt === 1) throw new Error('first attempt fails');
    });
    const replyTo = relayAddress('r1', newSessionId());
    await publisher.publish('x', { replyTo });
    const queue = keys.outbound('relay:r1');
    await expect.poll(() => fx.admin.llen(queue), { timeout: 10_000 }).toBe(1);
    await expect
      .poll(async () => Number(await fx.admin.hget(keys.totals, 'acked')), { timeout: 5_000 })
      .toBe(1);
    const [raw] = await fx.admin.lrangeBuffer(queue, 0, -1);
    const entry = decodeOutboundEntry(raw ?? Buffer.alloc(0));
    expect(entry.payload.toString()).toBe('attempt 2');
    expect(entry.replyTo).toBe(replyTo);
    expect(await fx.admin.llen(queue)).toBe(1);
  });

  it('without a reply address the return value goes nowhere; reply() after settling throws', async () => {
    let late: unknown;
    let saved: Message | undefined;
    const { keys, publisher } = await setup(async (msg) => {
      saved = msg;
      return { ignored: true };
    });
    await publisher.publish('plain');
    await publisher.publish('custom', { replyTo: 'amqp://someone-else' });
    await expect
      .poll(async () => Number(await fx.admin.hget(keys.totals, 'acked')), { timeout: 10_000 })
      .toBe(2);
    expect(await fx.admin.keys(`${keys.tag}:out*`)).toEqual([]);
    try {
      saved?.reply('too late');
    } catch (error) {
      late = error;
    }
    expect(late).toBeInstanceOf(ReplyAfterSettleError);
  });

  it('a resolved value that cannot be encoded nacks the message with the reason', async () => {
    const { keys, publisher } = await setup(async () => ({ big: 10n }));
    await publisher.publish('x', { replyTo: relayAddress('r1', newSessionId()) });
    await expect
      .poll(async () => (await fx.admin.hvals(keys.errors)).join(), { timeout: 10_000 })
      .toMatch(/BigInt/);
    expect(await fx.admin.llen(keys.outbound('relay:r1'))).toBe(0);
  });
});
