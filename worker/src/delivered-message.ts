import {
  type DecodedHeader,
  decodeEnvelope,
  hasEnvelopeMarker,
  ReplyAfterSettleError,
  type ReplyBytes,
  replyBytes,
} from '@redispatch/shared';
import type { HandlerDeadline } from './handler-deadline.js';
import type { Message } from './message.js';
import type { Delivery } from './transport.js';

/** How much of a handler error's stack a dead letter keeps (stacks can be huge; the top is what helps). */
const STACK_CHARS = 4_096;

/** Moves the claim behind `msg.extend` (the worker fences and batches it). */
export interface ClaimExtender {
  extendClaim(delivered: DeliveredMessage, ms: number): Promise<boolean>;
}

/** `handling` until the worker settles the message; from then on `reply` throws and `extend` is a no-op. */
type DeliveredState = 'handling' | 'settled';

/**
 * One delivery: the message its handler sees, and what the worker keeps while the handler runs (its
 * deadline, the replies given so far, the abort controller). ONE object per delivery, with no
 * closures: the worker's per-message allocations were most of its CPU (GC 38% in the profile).
 * The worker's side is private (#) so a handler sees only the Message fields (also in
 * JSON.stringify and Object.keys); the worker reaches it through the static functions below.
 */
export class DeliveredMessage implements Message {
  readonly id: string;
  readonly body: Buffer;
  readonly header: DecodedHeader | undefined;
  readonly attempt: number;
  readonly claimedAt: number;
  readonly #delivery: Delivery;
  readonly #extender: ClaimExtender;
  #state: DeliveredState = 'handling';
  // Made only if the handler reads `signal` (an AbortController per message was ~20% of a worker's CPU).
  #controller: AbortController | undefined = undefined;
  #replies: ReplyBytes[] | undefined = undefined;
  #deadline: HandlerDeadline | undefined = undefined;

  constructor(delivery: Delivery, claimedAt: number, extender: ClaimExtender) {
    const payload = delivery.body;
    // The leader dead-letters malformed envelopes, so a marked payload here decodes; be safe anyway.
    const decoded = hasEnvelopeMarker(payload) ? decodeEnvelope(payload) : undefined;
    const envelope = decoded?.kind === 'envelope' ? decoded : undefined;
    this.id = delivery.id;
    this.body = envelope ? envelope.body : payload;
    this.header = envelope?.header;
    this.attempt = delivery.attempt;
    this.claimedAt = claimedAt;
    this.#delivery = delivery;
    this.#extender = extender;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  reply(data: unknown): void {
    if (this.#state === 'settled') throw new ReplyAfterSettleError(this.id);
    const bytes = replyBytes(data);
    if (!bytes) return;
    this.#replies ??= [];
    this.#replies.push(bytes);
  }

  extend(ms: number): Promise<boolean> {
    if (!Number.isSafeInteger(ms) || ms < 1)
      return Promise.reject(new RangeError(`msg.extend: ms must be a whole number of ms >= 1, got ${ms}`));
    return this.#state === 'settled' ? Promise.resolve(false) : this.#extender.extendClaim(this, ms);
  }

  /** What the transport handed over (the worker settles and extends by it). */
  static delivery(message: DeliveredMessage): Delivery {
    return message.#delivery;
  }

  /** The running handler's deadline (set by the worker when it starts the handler). */
  static deadline(message: DeliveredMessage): HandlerDeadline | undefined {
    return message.#deadline;
  }

  static startDeadline(message: DeliveredMessage, deadline: HandlerDeadline): void {
    message.#deadline = deadline;
  }

  /** What the handler passed to `message.reply` so far. */
  static replies(message: DeliveredMessage): ReplyBytes[] | undefined {
    return message.#replies;
  }

  /** Aborts the handler's signal, if it ever read it. */
  static abort(message: DeliveredMessage, reason: Error): void {
    message.#controller?.abort(reason);
  }

  /** From now on `message.reply` throws: the message is settled. */
  static settle(message: DeliveredMessage): void {
    message.#state = 'settled';
  }

  static settled(message: DeliveredMessage): boolean {
    return message.#state === 'settled';
  }
}

/** A handler error as a nack carries it: "<name>: <message>" (cut short), then NUL and the stack's top. */
export function nackReason(error: unknown): { text: string; withStack: string } {
  const text = (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 1_000);
  // The settle scripts split "<reason>\0<stack>": the reason as before, the stack kept with a dead letter.
  const stack = error instanceof Error && error.stack ? `\0${error.stack.slice(0, STACK_CHARS)}` : '';
  return { text, withStack: text.replaceAll('\0', '') + stack };
}
