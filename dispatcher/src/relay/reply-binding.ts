import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataClient } from '@redispatch/shared';

/** Field of the relay's sessions hash that holds its binding key (session ids never start with '!'). */
export const BINDING_KEY_FIELD = '!binding-key';

const ISSUED_BYTES = 4;
const NONCE_BYTES = 6;
const MAC_BYTES = 12;
const BINDING_BYTES = ISSUED_BYTES + NONCE_BYTES + MAC_BYTES;
/** How far ahead of Redis time the relay's clock may run before a binding looks forged. */
const CLOCK_SKEW_MS = 60_000;

/** What a reply's binding says about it. */
export type BindingCheck =
  | { readonly kind: 'bound'; readonly nonce: string }
  | { readonly kind: 'forged' }
  | { readonly kind: 'stale' };

/**
 * Binds reply addresses to the frames they answer. For each inbound frame the relay mints
 * `<sessionId>.<binding>`, where the binding is (issued-at seconds, a nonce, and an HMAC of both and
 * the session id under a key only relays of this id hold). A reply is delivered only if its address
 * carries a binding this relay minted for that very session within the window, so a publisher that
 * knows a session id cannot aim a message's reply at someone else's socket. The key lives in the
 * relay's sessions hash so a restart with the same id keeps honouring the addresses it minted.
 */
export class ReplyBinding {
  /** Undefined until `load()`: nothing can be minted or checked before the relay has its key. */
  private key: Buffer | undefined;

  /** `windowMs`: how long after its frame a reply may be queued and still reach the session. */
  constructor(private readonly windowMs: number) {}

  /** Reads the relay's key, creating it on first start (HSETNX, so two racing starts agree on one). */
  async load(redis: DataClient, sessionsKey: string): Promise<void> {
    await redis.hsetnx(sessionsKey, BINDING_KEY_FIELD, randomBytes(32).toString('base64url'));
    const stored = await redis.hget(sessionsKey, BINDING_KEY_FIELD);
    if (!stored) throw new Error(`relay binding key missing from ${sessionsKey}`);
    this.key = Buffer.from(stored, 'base64url');
  }

  /** A fresh binding for one frame of `sessionId`, and its nonce (the frame's pending-reply handle). */
  mint(sessionId: string, nowMs = Date.now()): { binding: string; nonce: string } {
    const raw = Buffer.allocUnsafe(BINDING_BYTES);
    raw.writeUInt32BE(Math.floor(nowMs / 1000) >>> 0, 0);
    randomBytes(NONCE_BYTES).copy(raw, ISSUED_BYTES);
    this.mac(sessionId, raw).copy(raw, ISSUED_BYTES + NONCE_BYTES);
    return {
      binding: raw.toString('base64url'),
      nonce: raw.subarray(0, ISSUED_BYTES + NONCE_BYTES).toString('hex'),
    };
  }

  /** Checks a reply's binding against its session and the Redis time it was queued at. */
  check(sessionId: string, binding: string | undefined, enqueuedAtMs: number): BindingCheck {
    if (binding === undefined) return { kind: 'forged' };
    const raw = Buffer.from(binding, 'base64url');
    if (raw.length !== BINDING_BYTES) return { kind: 'forged' };
    const expected = this.mac(sessionId, raw);
    if (!timingSafeEqual(expected, raw.subarray(ISSUED_BYTES + NONCE_BYTES))) return { kind: 'forged' };
    const issuedMs = raw.readUInt32BE(0) * 1000;
    if (issuedMs - CLOCK_SKEW_MS > enqueuedAtMs || enqueuedAtMs - issuedMs > this.windowMs)
      return { kind: 'stale' };
    return { kind: 'bound', nonce: raw.subarray(0, ISSUED_BYTES + NONCE_BYTES).toString('hex') };
  }

  private mac(sessionId: string, raw: Buffer): Buffer {
    if (!this.key) throw new Error('reply binding used before its key was loaded');
    return createHmac('sha256', this.key)
      .update(sessionId)
      .update(raw.subarray(0, ISSUED_BYTES + NONCE_BYTES))
      .digest()
      .subarray(0, MAC_BYTES);
  }
}
