import { describe, expect, it } from 'vitest';
import { HandlerDeadline } from '../src/handler-deadline.js';

const settings = { ackTimeoutMs: 1_000, handlerTimeoutMs: 5_000, autoExtend: false, extendReachMs: Infinity };

describe('HandlerDeadline: which limit a handler ran into', () => {
  it("a message's own timeout below the ack timeout ends it first, while the claim is ours", () => {
    const deadline = new HandlerDeadline(0, settings, 300);
    expect(deadline.expireAt).toBe(300);
    expect(deadline.reached).toBe('message-timeout');
    expect(deadline.timeoutMs).toBe(300);
    // An extension cannot move it past its own timeout.
    deadline.extended(100, 10_000);
    expect(deadline.expireAt).toBe(300);
    expect(deadline.reached).toBe('message-timeout');
  });

  it('a claim never extended ends at the ack timeout', () => {
    const deadline = new HandlerDeadline(0, settings);
    expect(deadline.expireAt).toBe(1_000);
    expect(deadline.reached).toBe('ack-timeout');
    expect(deadline.timeoutMs).toBe(1_000);
  });

  it('a claim extended up to the handler limit ends there', () => {
    const deadline = new HandlerDeadline(0, settings);
    deadline.extended(500, 10_000);
    expect(deadline.expireAt).toBe(5_000);
    expect(deadline.reached).toBe('handler-limit');
    expect(deadline.timeoutMs).toBe(5_000);
  });

  it("a message's own timeout equal to or above the ack timeout is a handler limit, not a nack", () => {
    const equal = new HandlerDeadline(0, settings, 1_000);
    expect(equal.reached).not.toBe('message-timeout');
    const above = new HandlerDeadline(0, settings, 2_000);
    expect(above.reached).toBe('ack-timeout');
    above.extended(900, 5_000);
    expect(above.expireAt).toBe(2_000);
    expect(above.reached).toBe('handler-limit');
    expect(above.timeoutMs).toBe(2_000);
  });
});
