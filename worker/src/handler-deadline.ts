/** What a running handler's deadline is made from (the worker's options and its transport). */
export interface DeadlineSettings {
  ackTimeoutMs: number;
  /** REDISPATCH_HANDLER_TIMEOUT_MS: how long a handler may run while its claim is extended. */
  handlerTimeoutMs: number;
  autoExtend: boolean;
  /** How far one extension reaches at most (the transport's `extendReachMs`). */
  extendReachMs: number;
}

/**
 * Which limit an expired handler ran into, and so what the worker does with its message:
 * - `message-timeout`: the message's own timeout (`timeoutMs`), shorter than the ack timeout. The
 *   claim is still ours, so the worker nacks it at once (retried with backoff).
 * - `handler-limit`: the handler's limit (the handler timeout, or a message timeout not below the ack
 *   timeout) after the claim was extended up to it.
 * - `ack-timeout`: the ack timeout of a claim not extended in time.
 * For the last two the claim is (about to be) lost: the worker frees the slot and the leader redelivers.
 */
export type ReachedLimit = 'message-timeout' | 'handler-limit' | 'ack-timeout';

/**
 * One running handler's local deadline (monotonic clock, ms). It starts one ack timeout after the
 * start (as the claim's), moves with each extension of the claim, and never passes the handler's
 * limit: its own timeout (`messageTimeoutMs`, the per-message option) or else the larger of the
 * handler timeout and the ack timeout, so a worker that never extends behaves as before.
 */
export class HandlerDeadline {
  expireAt: number;
  readonly started: number;
  private readonly limitMs: number;
  private readonly limitAt: number;
  /** The message's own timeout is below the ack timeout: it ends the handler while the claim is ours. */
  private readonly ownTimeoutFirst: boolean;
  private nextAutoExtendAt: number;

  constructor(
    started: number,
    private readonly settings: DeadlineSettings,
    messageTimeoutMs?: number,
  ) {
    this.started = started;
    this.limitMs = messageTimeoutMs ?? Math.max(settings.handlerTimeoutMs, settings.ackTimeoutMs);
    this.limitAt = started + this.limitMs;
    this.ownTimeoutFirst = messageTimeoutMs !== undefined && messageTimeoutMs < settings.ackTimeoutMs;
    this.expireAt = started + Math.min(settings.ackTimeoutMs, this.limitMs);
    this.nextAutoExtendAt = settings.autoExtend
      ? started + settings.ackTimeoutMs / 3
      : Number.POSITIVE_INFINITY;
  }

  /** Which limit the handler ran into when it expires (see ReachedLimit). */
  get reached(): ReachedLimit {
    if (this.ownTimeoutFirst) return 'message-timeout';
    return this.expireAt >= this.limitAt ? 'handler-limit' : 'ack-timeout';
  }

  /** The limit it ran into, in ms: its own or the handler limit, or the ack timeout of a claim not extended in time. */
  get timeoutMs(): number {
    return this.reached === 'ack-timeout' ? this.settings.ackTimeoutMs : this.limitMs;
  }

  /** The claim was extended by `ms` as of `sentAt` (when the request left: the Redis deadline is later). */
  extended(sentAt: number, ms: number): void {
    const reach = sentAt + Math.min(ms, this.settings.extendReachMs);
    this.expireAt = Math.min(Math.max(this.expireAt, reach), this.limitAt);
  }

  /**
   * With auto-extension: the ms to extend the claim by now (one ack timeout), or undefined when no
   * extension is due; each due one schedules the next a third of the timeout on. The claim is not cut
   * to the limit: the handler is aborted at the limit here, and its claim ends up to one ack timeout
   * later, so the message is redelivered after the abort.
   */
  autoExtension(now: number): number | undefined {
    if (now < this.nextAutoExtendAt || this.expireAt >= this.limitAt) return undefined;
    this.nextAutoExtendAt = now + this.settings.ackTimeoutMs / 3;
    return this.settings.ackTimeoutMs;
  }
}
