import {
  decodeEnvelope,
  hasEnvelopeMarker,
  ReplyAfterSettleError,
  type ReplyBytes,
  replyBytes,
} from '@redispatch/shared';
import type { Message } from './message.js';
import type { Delivery } from './transport.js';

/** How much of a handler error's stack a dead letter keeps (stacks can be huge; the top is what helps). */
const STACK_CHARS = 4_096;

/** One delivery as its handler sees it, with what the worker needs back when the handler finishes. */
export interface DeliveredMessage {
  readonly message: Message;
  /** The envelope's reply address, if the publisher asked for replies. */
  readonly replyTo: string | undefined;
  /** The publisher's timestamp (ms), for the end-to-end latency. */
  readonly publishedAt: number | undefined;
  /**
   * This message's own handler timeout (ms), overriding REDISPATCH_HANDLER_TIMEOUT_MS; undefined: the
   * worker's. (The per-message `timeoutMs` envelope record, when decoded, is read here.)
   */
  readonly timeoutMs: number | undefined;
  /** What the handler passed to `message.reply` so far. */
  replies(): ReplyBytes[] | undefined;
  /** Aborts the handler's signal, if it ever read it. */
  abort(reason: Error): void;
  /** From now on `message.reply` throws: the message is settled. */
  settle(): void;
  readonly settled: boolean;
}

/** Extends the claim behind `msg.extend` (the worker fences and batches it). */
export type ExtendClaim = (ms: number) => Promise<boolean>;

export function deliveredMessage(
  delivery: Delivery,
  claimedAt: number,
  extendClaim: ExtendClaim,
): DeliveredMessage {
  const { id, body: payload, attempt } = delivery;
  // The AbortController is made only if the handler reads `signal` (it was ~20% of a worker's CPU).
  let controller: AbortController | undefined;
  let settled = false;
  let replies: ReplyBytes[] | undefined;
  // The leader dead-letters malformed envelopes, so a marked payload here decodes; be safe anyway.
  const decoded = hasEnvelopeMarker(payload) ? decodeEnvelope(payload) : undefined;
  const envelope = decoded?.kind === 'envelope' ? decoded : undefined;
  const message: Message = {
    id,
    body: envelope ? envelope.body : payload,
    header: envelope?.header,
    attempt,
    get signal() {
      controller ??= new AbortController();
      return controller.signal;
    },
    claimedAt,
    reply(data: unknown) {
      if (settled) throw new ReplyAfterSettleError(id);
      const bytes = replyBytes(data);
      if (!bytes) return;
      replies ??= [];
      replies.push(bytes);
    },
    extend(ms: number) {
      if (!Number.isSafeInteger(ms) || ms < 1)
        return Promise.reject(new RangeError(`msg.extend: ms must be a whole number of ms >= 1, got ${ms}`));
      return settled ? Promise.resolve(false) : extendClaim(ms);
    },
  };
  return {
    message,
    replyTo: envelope?.header.replyTo,
    publishedAt: envelope?.header.timestamp,
    timeoutMs: envelope?.header.timeoutMs,
    replies: () => replies,
    abort: (reason) => controller?.abort(reason),
    settle: () => {
      settled = true;
    },
    get settled() {
      return settled;
    },
  };
}

/** A handler error as a nack carries it: "<name>: <message>" (cut short), then NUL and the stack's top. */
export function nackReason(error: unknown): { text: string; withStack: string } {
  const text = (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 1_000);
  // The settle scripts split "<reason>\0<stack>": the reason as before, the stack kept with a dead letter.
  const stack = error instanceof Error && error.stack ? `\0${error.stack.slice(0, STACK_CHARS)}` : '';
  return { text, withStack: text.replaceAll('\0', '') + stack };
}
