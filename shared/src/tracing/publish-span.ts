/**
 * The `publish` span of one message (the `Publisher`, the relay): started as a child of the active
 * context, its own context injected into the envelope as `traceparent`/`tracestate`, so the worker's
 * process span becomes its child. Nothing is started when tracing is off or the caller brought its
 * own `traceparent` (it owns the trace context then).
 */
import type { Span } from '@opentelemetry/api';
import type { EnvelopeHeader } from '../envelope/format.js';
import { endSpanWithError, SpanAttribute, startMessagingSpan, tracingEnabled } from './messaging-spans.js';
import { traceHeaderOf } from './w3c-context.js';

export interface TracedPublish<T extends EnvelopeHeader> {
  span: Span;
  /** The message's options with the span's context as its trace context. */
  options: T;
}

/** Starts the publish span for a message with `options`, or returns undefined (no span wanted). */
export function startPublishSpan<T extends EnvelopeHeader>(
  destination: string,
  options: T | undefined,
): TracedPublish<T> | undefined {
  if (options?.traceparent !== undefined || !tracingEnabled()) return undefined;
  const id = options?.id;
  const span = startMessagingSpan({
    operation: 'publish',
    destination,
    attributes: id === undefined ? undefined : { [SpanAttribute.messageId]: id },
  });
  const header = traceHeaderOf(span.spanContext());
  const traced = { ...options, ...header } as T;
  return { span, options: traced };
}

/** Ends a publish span: failed with the error, or fine. */
export function endPublishSpan(span: Span, outcome: unknown): void {
  if (outcome instanceof Error) endSpanWithError(span, outcome);
  else span.end();
}
