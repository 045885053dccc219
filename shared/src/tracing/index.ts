export { attemptLinkOf, spanContextOfAttemptLink, withAttemptLink } from './attempt-link.js';
export {
  endSpanWithError,
  MESSAGING_SYSTEM,
  type MessagingOperation,
  type MessagingSpanOptions,
  messageLink,
  SpanAttribute,
  startMessagingSpan,
  tracingEnabled,
} from './messaging-spans.js';
export { endPublishSpan, startPublishSpan, type TracedPublish } from './publish-span.js';
export {
  activeSpanContext,
  contextFromTraceparent,
  spanContextFromTraceparent,
  traceHeaderOf,
} from './w3c-context.js';
