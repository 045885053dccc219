import { ReplyAfterSettleError } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { DeliveredMessage } from '../src/delivered-message.js';

const extender = { extendClaim: async () => true };

describe('DeliveredMessage', () => {
  it("shows a handler only the Message fields (the worker's side is private)", () => {
    const delivered = new DeliveredMessage(
      { receipt: 'r1', id: 'm1', attempt: 2, body: Buffer.from('hello') },
      1234,
      extender,
    );
    expect(Object.keys(delivered).sort()).toEqual(['attempt', 'body', 'claimedAt', 'header', 'id']);
    expect(JSON.parse(JSON.stringify(delivered))).toMatchObject({ id: 'm1', attempt: 2, claimedAt: 1234 });
    expect(delivered.body.toString()).toBe('hello');
    expect(DeliveredMessage.delivery(delivered).receipt).toBe('r1');
  });

  it('collects replies until settled, then refuses them; extend answers false once settled', async () => {
    const delivered = new DeliveredMessage(
      { receipt: 'r', id: 'm', attempt: 1, body: Buffer.alloc(0) },
      0,
      extender,
    );
    delivered.reply('one');
    delivered.reply(Buffer.from('two'));
    expect(DeliveredMessage.replies(delivered)?.length).toBe(2);
    expect(await delivered.extend(100)).toBe(true);
    DeliveredMessage.settle(delivered);
    expect(DeliveredMessage.settled(delivered)).toBe(true);
    expect(() => delivered.reply('three')).toThrow(ReplyAfterSettleError);
    expect(await delivered.extend(100)).toBe(false);
  });

  it('aborts the signal only once the handler read it', () => {
    const delivered = new DeliveredMessage(
      { receipt: 'r', id: 'm', attempt: 1, body: Buffer.alloc(0) },
      0,
      extender,
    );
    DeliveredMessage.abort(delivered, new Error('early'));
    const { signal } = delivered;
    expect(signal.aborted).toBe(false);
    DeliveredMessage.abort(delivered, new Error('late'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('late');
  });
});
