/**
 * The worker's `process` spans: one per delivery, a child of the message's trace context (its
 * envelope `traceparent`), with the attempt number, and a link to the previous attempt's span — when
 * this worker handled (or still runs) it, from memory; when another worker nacked it (lists mode),
 * from the span context that came back with the claim. Nothing is built when tracing is off (no SDK).
 */
import { context, ROOT_CONTEXT, type Span, type SpanContext, trace } from '@opentelemetry/api';
import {
  contextFromTraceparent,
  endSpanWithError,
  messageLink,
  SpanAttribute,
  spanContextOfAttemptLink,
  startMessagingSpan,
  tracingEnabled,
} from '@redispatch/shared';
import type { Message } from './message.js';

/** Failed attempts remembered for the next attempt's link; the oldest is forgotten past this. */
const REMEMBERED_ATTEMPTS = 1_024;

export class ProcessSpans {
  /** The span of each message's last failed (or timed out) attempt here, by message id. */
  private readonly failedAttempts = new Map<string, SpanContext>();
  /**
   * The span of each message's attempt still running here. The leader redelivers at the deadline on
   * the Redis clock, a little before the local one, so attempt n+1 can start while attempt n runs.
   */
  private readonly runningAttempts = new Map<string, SpanContext>();

  /** `destination`: the deployment prefix (`messaging.destination.name`). */
  constructor(private readonly destination: string) {}

  /**
   * Starts the span for a delivery, or returns undefined when tracing is off. `previousAttempt`: the
   * hex span context another worker's traced nack left with the message.
   */
  start(message: Message, previousAttempt?: string): Span | undefined {
    if (!tracingEnabled()) return undefined;
    const header = message.header;
    // No traceparent: a root span, never a child of whatever happens to be active in the worker.
    const parent =
      header?.traceparent === undefined
        ? ROOT_CONTEXT
        : contextFromTraceparent(header.traceparent, header.tracestate);
    const previous =
      message.attempt > 1
        ? (this.failedAttempts.get(message.id) ??
          this.runningAttempts.get(message.id) ??
          (previousAttempt === undefined ? undefined : spanContextOfAttemptLink(previousAttempt)))
        : undefined;
    const span = startMessagingSpan({
      operation: 'process',
      destination: this.destination,
      parent,
      links: previous === undefined ? undefined : [messageLink(previous, 'previous_attempt')],
      attributes: { [SpanAttribute.messageId]: message.id, [SpanAttribute.attempt]: message.attempt },
    });
    this.runningAttempts.set(message.id, span.spanContext());
    return span;
  }

  /** Runs the handler with `span` active, so the handler's own spans are its children. */
  within<T>(span: Span, run: () => T): T {
    return context.with(trace.setSpan(context.active(), span), run);
  }

  /** Ends the span: acked, or failed with the error (then remembered for the next attempt's link). */
  end(span: Span, messageId: string, error: unknown): void {
    // A later attempt may have started meanwhile: forget only this attempt.
    if (this.runningAttempts.get(messageId)?.spanId === span.spanContext().spanId) {
      this.runningAttempts.delete(messageId);
    }
    if (error === undefined) {
      this.failedAttempts.delete(messageId);
      span.end();
      return;
    }
    endSpanWithError(span, error);
    this.failedAttempts.delete(messageId);
    if (this.failedAttempts.size >= REMEMBERED_ATTEMPTS) {
      const oldest = this.failedAttempts.keys().next();
      if (!oldest.done) this.failedAttempts.delete(oldest.value);
    }
    this.failedAttempts.set(messageId, span.spanContext());
  }
}
