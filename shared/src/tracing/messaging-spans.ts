/**
 * OpenTelemetry spans for redispatch, following the messaging semantic conventions. Everything goes
 * through `@opentelemetry/api`, a no-op until the application registers an SDK; `tracingEnabled()`
 * is the one check the hot paths make, so without an SDK no span, context or link is ever built.
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  ProxyTracerProvider,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

/** `messaging.system` of every redispatch span. */
export const MESSAGING_SYSTEM = 'redispatch';

/** Attribute names (OpenTelemetry messaging semantic conventions, plus two of our own). */
export const SpanAttribute = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  /** Which delivery of the message this is (1 = first). */
  attempt: 'messaging.redispatch.attempt',
  /** On a link: why it is there (`message`, `previous_attempt`). */
  linkKind: 'messaging.redispatch.link',
} as const;

/** The instrumentation scope of every redispatch span. */
const TRACER_NAME = 'redispatch';

/** What the global provider delegates to before an SDK registers one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Has the application registered a tracer provider (an SDK)? No allocation: the hot paths call it
 * once per message (or per batch) and do nothing more when it is false.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** The operations redispatch traces: `messaging.operation.name` → `messaging.operation.type`. */
const OPERATIONS = {
  publish: { type: 'publish', kind: SpanKind.PRODUCER },
  dispatch: { type: 'send', kind: SpanKind.PRODUCER },
  process: { type: 'process', kind: SpanKind.CONSUMER },
} as const;
export type MessagingOperation = keyof typeof OPERATIONS;

export interface MessagingSpanOptions {
  operation: MessagingOperation;
  /** `messaging.destination.name`: the channel (publish) or the deployment prefix (dispatch, process). */
  destination: string;
  /** The parent context (default: the active one). */
  parent?: Context | undefined;
  links?: Link[] | undefined;
  attributes?: Attributes | undefined;
}

/** Starts a span named `<operation> <destination>` with the messaging attributes. */
export function startMessagingSpan(options: MessagingSpanOptions): Span {
  const { type, kind } = OPERATIONS[options.operation];
  // Asked for at each span (the SDK caches it): a tracer taken at import time would stay a no-op
  // forever if another copy of @opentelemetry/api registered the SDK after this module loaded.
  return trace.getTracer(TRACER_NAME).startSpan(
    `${options.operation} ${options.destination}`,
    {
      kind,
      links: options.links,
      attributes: {
        [SpanAttribute.system]: MESSAGING_SYSTEM,
        [SpanAttribute.operationType]: type,
        [SpanAttribute.operationName]: options.operation,
        [SpanAttribute.destination]: options.destination,
        ...options.attributes,
      },
    },
    options.parent ?? context.active(),
  );
}

/** Ends `span` as failed with `error` recorded on it. */
export function endSpanWithError(span: Span, error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  span.recordException(failure);
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
  span.end();
}

/** A link to a message's context, marked with why it is there. */
export function messageLink(spanContext: SpanContext, kind: 'message' | 'previous_attempt'): Link {
  return { context: spanContext, attributes: { [SpanAttribute.linkKind]: kind } };
}
