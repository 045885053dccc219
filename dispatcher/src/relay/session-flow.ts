/**
 * Why the relay is (not) reading a session's socket:
 * - `reading`: frames are taken as they come.
 * - `held-pending`: the session has `maxPending` frames awaiting their first reply; reading resumes
 *   as replies arrive (or frames time out unanswered).
 * - `held-rate`: the session spent its frame-rate tokens; reading resumes when they refill.
 * Holding a socket is backpressure, not loss: the client's sends wait in TCP buffers.
 */
export type FlowState = 'reading' | 'held-pending' | 'held-rate';

export interface FlowLimits {
  maxPending: number;
  pendingTimeoutMs: number;
  /** Frames per second; 0 = unlimited. The bucket holds one second of frames. */
  frameRate: number;
}

/**
 * Per-session flow control (guarantee 11: no client starves another). Counts frames awaiting their
 * first reply by the nonce of their reply binding, and the session's frame-rate tokens.
 */
export class SessionFlow {
  state: FlowState = 'reading';
  /** nonce -> when the frame was published (ms); insertion order is age order. */
  private readonly pending = new Map<string, number>();
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly limits: FlowLimits,
    nowMs = Date.now(),
  ) {
    this.tokens = limits.frameRate;
    this.refilledAt = nowMs;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Records an inbound frame; returns the state the socket should now be in. */
  frameIn(nonce: string, nowMs = Date.now()): FlowState {
    this.pending.set(nonce, nowMs);
    if (this.limits.frameRate > 0) {
      this.refill(nowMs);
      this.tokens -= 1;
    }
    return this.settle(nowMs);
  }

  /** A frame that will get no reply (its publish reached nobody or failed). */
  frameDropped(nonce: string, nowMs = Date.now()): FlowState {
    this.pending.delete(nonce);
    return this.settle(nowMs);
  }

  /** The first reply to a frame releases its slot; later replies to it change nothing. */
  replied(nonce: string, nowMs = Date.now()): FlowState {
    this.pending.delete(nonce);
    return this.settle(nowMs);
  }

  /** Forgets frames unanswered past the timeout, refills tokens; returns the new state. */
  tick(nowMs = Date.now()): FlowState {
    const oldest = nowMs - this.limits.pendingTimeoutMs;
    for (const [nonce, at] of this.pending) {
      if (at > oldest) break;
      this.pending.delete(nonce);
    }
    return this.settle(nowMs);
  }

  /** Milliseconds until the rate bucket holds a whole token again (0 when it does). */
  msUntilToken(nowMs = Date.now()): number {
    if (this.limits.frameRate === 0) return 0;
    this.refill(nowMs);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.limits.frameRate);
  }

  private refill(nowMs: number): void {
    const rate = this.limits.frameRate;
    this.tokens = Math.min(rate, this.tokens + ((nowMs - this.refilledAt) * rate) / 1000);
    this.refilledAt = nowMs;
  }

  private settle(nowMs: number): FlowState {
    if (this.pending.size >= this.limits.maxPending) this.state = 'held-pending';
    else if (this.limits.frameRate > 0 && this.msUntilToken(nowMs) > 0) this.state = 'held-rate';
    else this.state = 'reading';
    return this.state;
  }
}
