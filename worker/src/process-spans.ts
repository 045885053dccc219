/**
 * The worker's `process` spans: one per delivery, a child of the message's trace context (its
 * envelope `traceparent`), with the attempt number, and — when this worker handled the previous
 * attempt — a link to that attempt's span. Nothing is built when tracing is off (no SDK).
 */
import { context, ROOT_CONTEXT, type Span, type SpanContext, trace } from '@opentelemetry/api';
import {
  contextFromTraceparent,
  endSpanWithError,
  messageLink,
  SpanAttribute,
  startMessagingSpan,
  tracingEnabled,
} from '@redispatch/shared';
import type { Message } from './message.js';

/** Failed attempts remembered for the next attempt's link; the oldest is forgotten past this. */
const REMEMBERED_ATTEMPTS = 1_024;

export class ProcessSpans {
  /** The span of each message's last failed (or timed out) attempt here, by message id. */
  private readonly failedAttempts = new Map<string, SpanContext>();

  /** `destination`: the deployment prefix (`messaging.destination.name`). */
  constructor(private readonly destination: string) {}

  /** Starts the span for a delivery, or returns undefined when tracing is off. */
  start(message: Message): Span | undefined {
    if (!tracingEnabled()) return undefined;
    const header = message.header;
    // No traceparent: a root span, never a child of whatever happens to be active in the worker.
    const parent =
      header?.traceparent === undefined
        ? ROOT_CONTEXT
        : contextFromTraceparent(header.traceparent, header.tracestate);
    const previous = message.attempt > 1 ? this.failedAttempts.get(message.id) : undefined;
    return startMessagingSpan({
      operation: 'process',
      destination: this.destination,
      parent,
      links: previous === undefined ? undefined : [messageLink(previous, 'previous_attempt')],
      attributes: { [SpanAttribute.messageId]: message.id, [SpanAttribute.attempt]: message.attempt },
    });
  }

  /** Runs the handler with `span` active, so the handler's own spans are its children. */
  within<T>(span: Span, run: () => T): T {
    return context.with(trace.setSpan(context.active(), span), run);
  }

  /** Ends the span: acked, or failed with the error (then remembered for the next attempt's link). */
  end(span: Span, messageId: string, error: unknown): void {
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
