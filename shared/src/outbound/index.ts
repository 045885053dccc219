export {
  isRelayId,
  isSessionId,
  newSessionId,
  outboundRoute,
  parseReplyAddress,
  type ReplyAddress,
  relayAddress,
} from './address.js';
export {
  type DeadOutboundEntry,
  decodeDeadOutboundEntry,
  decodeOutboundEntry,
  encodeOutboundEntry,
  encodeOutboundTail,
  MalformedOutboundEntryError,
  OUTBOUND_ENTRY_VERSION,
  type OutboundEntry,
  type OutboundReply,
} from './entry.js';
export { type ReplyBytes, replyBytes } from './reply-value.js';
