/**
 * W3C `traceparent` / `tracestate` strings ↔ OpenTelemetry span contexts. The strings come from an
 * envelope, whose decoder already checked them (`envelope/trace-context.ts`), so parsing is slicing.
 */
import {
  type Context,
  context,
  createTraceState,
  isSpanContextValid,
  ROOT_CONTEXT,
  type SpanContext,
  trace,
} from '@opentelemetry/api';

/** The remote span context a checked `traceparent` (and optional `tracestate`) describes. */
export function spanContextFromTraceparent(traceparent: string, tracestate?: string): SpanContext {
  return {
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: Number.parseInt(traceparent.slice(53, 55), 16),
    isRemote: true,
    traceState: tracestate === undefined ? undefined : createTraceState(tracestate),
  };
}

/** A context whose active span is the remote one `traceparent` names (for a child span). */
export function contextFromTraceparent(traceparent: string, tracestate?: string): Context {
  return trace.setSpanContext(ROOT_CONTEXT, spanContextFromTraceparent(traceparent, tracestate));
}

/** The `traceparent` and `tracestate` to carry for `spanContext`, or undefined when it is not valid. */
export function traceHeaderOf(
  spanContext: SpanContext,
): { traceparent: string; tracestate: string | undefined } | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  const state = spanContext.traceState?.serialize();
  return {
    traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`,
    tracestate: state === undefined || state === '' ? undefined : state,
  };
}

/** The active span's context, when there is a valid one (an application's own span). */
export function activeSpanContext(): SpanContext | undefined {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext !== undefined && isSpanContextValid(spanContext) ? spanContext : undefined;
}
