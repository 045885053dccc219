/**
 * The link from a redelivery's process span to the previous attempt's, across workers (lists mode):
 * a worker that nacks a traced attempt sends that attempt's span context with the nack, the settle
 * script keeps it beside the message (at the end of its attempts-hash value, `x<hex>`), and the claim
 * of the next attempt hands it to whichever worker takes it. Only traced nacks carry one, so a
 * deployment without an SDK never writes or reads anything of it.
 */
import { isSpanContextValid, type SpanContext } from '@opentelemetry/api';

/** First byte of a nack's error text that carries a span context (then 50 hex digits, then the text). */
const MARK = '\u0001';

/** The span context as 50 hex digits (trace id, span id, flags), or undefined when it is not a valid one. */
export function attemptLinkOf(spanContext: SpanContext): string | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  return `${spanContext.traceId}${spanContext.spanId}${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A nack's error text carrying the failed attempt's span (settle-messages.lua takes it off again). */
export function withAttemptLink(error: string, spanContext: SpanContext): string {
  const hex = attemptLinkOf(spanContext);
  return hex === undefined ? error : `${MARK}${hex}${error}`;
}

/** The remote span context of a previous attempt, from the hex a claim returned (undefined if malformed). */
export function spanContextOfAttemptLink(hex: string): SpanContext | undefined {
  if (!/^[0-9a-f]{50}$/.test(hex)) return undefined;
  const spanContext: SpanContext = {
    traceId: hex.slice(0, 32),
    spanId: hex.slice(32, 48),
    traceFlags: Number.parseInt(hex.slice(48, 50), 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}
