import type { DecodedHeader } from '@redispatch/shared';

/** What a handler receives. Fields are a contract: extend, never rename. */
export interface Message {
  /** Leader-assigned id, unique for the deployment's lifetime. */
  readonly id: string;
  /** The body as published, without the envelope header if it had one (binary-safe). */
  readonly body: Buffer;
  /**
   * The envelope header (publisher id, reply address, publish timestamp, caller `identity`, …), or
   * undefined for a plain payload. `header.identity` is who published the message as authenticated by
   * the writer of the envelope (e.g. the relay's auth hook); undefined when none was given.
   * `header.traceparent` / `header.tracestate` are the W3C trace context of the message's publish
   * (docs/tracing.md); with an OpenTelemetry SDK installed the handler runs inside a process span
   * that is its child.
   */
  readonly header: DecodedHeader | undefined;
  /** 1 on first delivery; counts every delivery, including ones lost to timeouts or worker crashes. */
  readonly attempt: number;
  /** Aborted when the ack deadline passes or the worker is shutting down past its grace period. */
  readonly signal: AbortSignal;
  /** Epoch ms when this worker claimed the message. */
  readonly claimedAt: number;
  /**
   * Queues a reply to the envelope's reply address (`header.replyTo`): bytes as they are, a string
   * as UTF-8, anything else as JSON. Replies are written in the same script call as the ack, so they
   * exist only if the message is acked by its current owner; a nack discards them (the retry replies).
   * Several calls send several replies, in order. When `reply` was never called, the handler's
   * resolved value (unless undefined or null) is the reply. Without a reply address redispatch
   * delivers to (`relay:…` or `http(s)://…`), replies are counted and not sent.
   * Throws `ReplyAfterSettleError` once the handler has settled.
   */
  reply(data: unknown): void;
  /**
   * Moves this claim's ack deadline to now + `ms` (Redis clock), so a long handler is not redelivered
   * while it runs. Resolves true when extended, false when this worker no longer owns this attempt
   * (the claim expired and the message was redelivered, or it was settled): nothing changed then.
   * Streams mode: one call reaches at most one ack timeout ahead (call it again to go further).
   * Capped by the handler timeout (REDISPATCH_HANDLER_TIMEOUT_MS). Rejects on a Redis error.
   */
  extend(ms: number): Promise<boolean>;
}

/**
 * A handler module's default export. Resolve to ack (the resolved value is the reply, if the message
 * has a reply address and `msg.reply` was not called); throw (or reject) to nack and retry.
 */
export type Handler = (message: Message) => unknown | Promise<unknown>;
