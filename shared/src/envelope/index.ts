export { decodeEnvelope, envelopeHeaderLength, envelopeTraceparent, hasEnvelopeMarker } from './decode.js';
export { dedupeId } from './dedupe-id.js';
export { encodeEnvelope } from './encode.js';
export {
  type DecodedEnvelope,
  type DecodedHeader,
  ENVELOPE_FIXED_BYTES,
  ENVELOPE_KNOWN_FLAGS,
  ENVELOPE_MARKER,
  ENVELOPE_VERSION,
  EnvelopeFlag,
  type EnvelopeHeader,
  EnvelopeRecord,
  MAX_ENVELOPE_ATTEMPTS,
  MAX_ENVELOPE_DELAY_MS,
  MAX_ENVELOPE_ENCODED_HEADER_BYTES,
  MAX_ENVELOPE_EPOCH_MS,
  MAX_ENVELOPE_EXT_BYTES,
  MAX_ENVELOPE_HEADER_BYTES,
  MAX_ENVELOPE_IDENTITY_BYTES,
  MAX_ENVELOPE_NAMESPACE_BYTES,
  MAX_ENVELOPE_PRIORITY,
  MAX_ENVELOPE_STRING_BYTES,
  MAX_ENVELOPE_TIMEOUT_MS,
} from './format.js';
export {
  framePayload,
  PublishBatchError,
  Publisher,
  type PublisherOptions,
  type PublishItem,
  type PublishOptions,
} from './publisher.js';
export {
  MAX_TRACESTATE_BYTES,
  TRACEPARENT_BYTES,
  traceparentProblem,
  tracestateProblem,
} from './trace-context.js';
