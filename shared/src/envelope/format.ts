/**
 * The redispatch envelope, wire format version 1.
 *
 * A pub/sub payload either is a *plain* payload (opaque bytes, delivered as-is) or starts with a
 * small binary header followed by the body. The dispatcher tells the two apart by the first byte
 * alone and never parses the body.
 *
 * ```text
 * offset  size  field
 * 0       1     marker   0xFE
 * 1       1     version  0x01
 * 2       1     flags    which optional fields follow (bit set = present); bit 7 must be 0
 * 3       ...   optional fields, each present only if its flag bit is set, in this fixed order:
 *   bit 0 (0x01) id           u8 length (1..255) + that many bytes of UTF-8   publisher message id (dedupe)
 *   bit 1 (0x02) delayMs      u32 big-endian (0..4294967295)                 deliver after this many ms
 *   bit 2 (0x04) dueAt        u64 big-endian (0..2^53-1)                     deliver at this epoch ms
 *   bit 3 (0x08) affinityKey  u8 length (1..255) + UTF-8                     same key, same worker
 *   bit 4 (0x10) replyTo      u8 length (1..255) + UTF-8                     reply address
 *   bit 5 (0x20) timestamp    u64 big-endian (0..2^53-1)                     publish time, epoch ms
 *   bit 6 (0x40) ext          u16 big-endian L (1..65535) + L bytes of records, each
 *                             u8 type + u16 big-endian length + value         extension fields
 * then    rest  body     every remaining byte, unframed (the pub/sub message delimits it)
 * ```
 *
 * Rules (a decoder reports a violation as `malformed` with a reason; an encoder refuses to write one):
 * - Strings are 1..255 bytes of well-formed UTF-8. A zero length is malformed: leave the flag clear
 *   instead, so every header has exactly one encoding.
 * - `delayMs` and `dueAt` are mutually exclusive (both flags set is malformed).
 * - u64 values above 2^53-1 (`Number.MAX_SAFE_INTEGER`) are malformed: they cannot be represented
 *   exactly in JavaScript and no real epoch-ms value comes near them.
 * - A version other than 1 is malformed (unsupported); a future version may change everything after
 *   the version byte. Unknown flag bits (bit 7) are malformed, not ignored, because an unknown field's
 *   length cannot be skipped. New fields go into the extension block instead, whose records carry their
 *   own length: a decoder SKIPS a record of an unknown type, so adding a record type is compatible.
 * - Extension block: L = 0 is malformed (clear the flag instead); a block overrunning the payload, a
 *   record overrunning the block and a second record of a known type are malformed. Known records are
 *   written in ascending type order; skipped unknown records are the one way two payloads decode to the
 *   same header (re-encoding drops them). Record 0x01 `identity`: 1..1024 bytes of well-formed UTF-8;
 *   0x02 `attempts` u8 1..255; 0x03 `expiresAt` u64 ≤ 2^53-1; 0x04 `timeoutMs` u32 ≥ 1; 0x05 `priority`
 *   u8 0..9; 0x08 `namespace` 1..64 bytes of well-formed UTF-8. A known fixed-size record of another length, or a value out of range, is malformed.
 * - Compatibility: decoders older than the extension block report bit 6 as an unknown flag (malformed),
 *   so dispatchers and workers must be upgraded before anything publishes it.
 * - The header is self-delimiting; the body has no length. Any prefix of a header is malformed, but a
 *   cut inside the body cannot be detected (Redis pub/sub delivers whole messages, so it does not happen).
 *
 * Why 0xFE: it never occurs anywhere in valid UTF-8, so no text payload (JSON, XML, CSV, plain strings,
 * any UTF-8 with or without a BOM) can start with it. It is also a reserved, ill-formed initial byte in
 * CBOR and would carry the invalid wire type 6 as a protobuf tag, so those binary formats never start
 * with it either. (0x00 was rejected: it is valid UTF-8 and starts many length-prefixed binary formats.)
 *
 * A payload whose first byte is 0xFE is *always* read as an envelope — or reported as malformed. So a
 * publisher of arbitrary binary bodies (raw bytes, MessagePack, which encodes the integer -2 as 0xFE,
 * UTF-16 with a big-endian BOM) must wrap any body starting with 0xFE in an empty envelope: the three
 * bytes `FE 01 00` followed by the body. `Publisher` does this automatically.
 */

/** First byte of every enveloped payload. Never a byte of valid UTF-8. */
export const ENVELOPE_MARKER = 0xfe;

/** The only wire-format version this code reads and writes. */
export const ENVELOPE_VERSION = 1;

/** Marker, version and flags: the smallest possible envelope header (an empty envelope). */
export const ENVELOPE_FIXED_BYTES = 3;

/** Flag bits in the third byte; fields appear on the wire in ascending bit order. */
export const EnvelopeFlag = {
  id: 0x01,
  delayMs: 0x02,
  dueAt: 0x04,
  affinityKey: 0x08,
  replyTo: 0x10,
  timestamp: 0x20,
  /** An extension block of typed, length-prefixed records follows `timestamp`. */
  ext: 0x40,
} as const;
export type EnvelopeFlag = (typeof EnvelopeFlag)[keyof typeof EnvelopeFlag];

/** Every flag bit version 1 defines; any other bit (bit 7) set is malformed. */
export const ENVELOPE_KNOWN_FLAGS = 0x7f;

/** Record types in the extension block. A decoder skips any type not listed here. */
export const EnvelopeRecord = {
  identity: 0x01,
  /** u8 1..255: this message's most deliveries, overriding REDISPATCH_MAX_ATTEMPTS. */
  attempts: 0x02,
  /** u64 Unix ms (0..2^53-1): past it the message is dead-lettered `expired`, never handled. */
  expiresAt: 0x03,
  /** u32 ms (1..2^32-1): this message's handler timeout. */
  timeoutMs: 0x04,
  /** u8 0..9: routed before lower priorities (absent = 0). */
  priority: 0x05,
  /** W3C `traceparent`, version 00: exactly 55 ASCII bytes (`trace-context.ts`). */
  traceparent: 0x06,
  /** W3C `tracestate`: 1..512 ASCII bytes of W3C list syntax. */
  tracestate: 0x07,
  /** Publisher namespace, 1..64 bytes of UTF-8: the dedupe key is namespace + id (issue 22). */
  namespace: 0x08,
} as const;
export type EnvelopeRecord = (typeof EnvelopeRecord)[keyof typeof EnvelopeRecord];

/** Longest string field, in UTF-8 bytes (one length byte). */
export const MAX_ENVELOPE_STRING_BYTES = 255;

/** Longest `identity`, in UTF-8 bytes. */
export const MAX_ENVELOPE_IDENTITY_BYTES = 1024;

/** Longest `namespace`, in UTF-8 bytes. */
export const MAX_ENVELOPE_NAMESPACE_BYTES = 64;

/** Fixed bytes + three 255-byte strings with their length bytes + `dueAt` + `timestamp` = 787. */
const LARGEST_FLAG_FIELDS_BYTES = ENVELOPE_FIXED_BYTES + 3 * (1 + MAX_ENVELOPE_STRING_BYTES) + 8 + 8;

/** Largest extension block (its u16 length), in bytes, not counting the length itself. */
export const MAX_ENVELOPE_EXT_BYTES = 0xffff;

/**
 * Largest header a decoder accepts, in bytes: every version-1 field at its largest (3 + 3 × 256 + 8 + 8
 * = 787, with `dueAt`) plus a full extension block (2 + 65 535, unknown records included) = 66 324.
 * `envelopeHeaderLength` never returns more.
 */
export const MAX_ENVELOPE_HEADER_BYTES = LARGEST_FLAG_FIELDS_BYTES + 2 + MAX_ENVELOPE_EXT_BYTES;

/** Bytes the per-message option records add at most: attempts 4 + expiresAt 11 + timeoutMs 7 + priority 4. */
const LARGEST_OPTION_RECORDS_BYTES = 4 + 11 + 7 + 4;

/**
 * Largest header `encodeEnvelope` writes, in bytes: 787 plus an extension block holding the largest
 * identity (2 + 3 + 1024), a traceparent (3 + 55), the largest tracestate (3 + 512), every option
 * record (26) and the largest namespace (3 + 64) = 2482. What a publisher must leave under `REDISPATCH_MAX_PAYLOAD_BYTES`.
 */
export const MAX_ENVELOPE_ENCODED_HEADER_BYTES =
  LARGEST_FLAG_FIELDS_BYTES +
  2 +
  3 +
  MAX_ENVELOPE_IDENTITY_BYTES +
  3 +
  55 +
  3 +
  512 +
  LARGEST_OPTION_RECORDS_BYTES +
  3 +
  MAX_ENVELOPE_NAMESPACE_BYTES;

/** Largest per-message `attempts` (u8). */
export const MAX_ENVELOPE_ATTEMPTS = 255;

/** Largest `priority`; 0 (the default when absent) is the lowest. */
export const MAX_ENVELOPE_PRIORITY = 9;

/** Largest `timeoutMs` (u32). */
export const MAX_ENVELOPE_TIMEOUT_MS = 0xffff_ffff;

/** Largest `delayMs` (u32, about 49.7 days). */
export const MAX_ENVELOPE_DELAY_MS = 0xffff_ffff;

/** Largest `dueAt` / `timestamp` (u64 on the wire, limited to what a JavaScript number holds exactly). */
export const MAX_ENVELOPE_EPOCH_MS = Number.MAX_SAFE_INTEGER;

/** The optional header fields. Absent (`undefined`) fields are not written. */
export interface EnvelopeHeader {
  /** Publisher message id, for deduplication: 1..255 UTF-8 bytes. */
  id?: string | undefined;
  /** Deliver no earlier than this many ms after the dispatcher receives it: integer 0..2^32-1. */
  delayMs?: number | undefined;
  /** Deliver no earlier than this absolute time, epoch ms: integer 0..2^53-1. Exclusive with `delayMs`. */
  dueAt?: number | undefined;
  /** Messages with the same key go to the same worker: 1..255 UTF-8 bytes. */
  affinityKey?: string | undefined;
  /** Where a reply should be sent: 1..255 UTF-8 bytes. */
  replyTo?: string | undefined;
  /** Publish time, epoch ms (end-to-end latency): integer 0..2^53-1. */
  timestamp?: number | undefined;
  /**
   * Who published the message, as authenticated by whoever wrote the envelope (e.g. the relay's auth
   * hook): 1..1024 UTF-8 bytes, carried in extension record 0x01. Opaque to redispatch.
   */
  identity?: string | undefined;
  /** Most deliveries of this message (record 0x02): integer 1..255; overrides REDISPATCH_MAX_ATTEMPTS. */
  attempts?: number | undefined;
  /** Unix ms after which the message is dead-lettered `expired` unhandled (record 0x03): 0..2^53-1. */
  expiresAt?: number | undefined;
  /** This message's handler timeout in ms (record 0x04): integer 1..2^32-1. */
  timeoutMs?: number | undefined;
  /** 0..9, higher routed first (record 0x05); absent means 0. */
  priority?: number | undefined;
  /**
   * W3C trace context of the message's publish (`00-<trace id>-<span id>-<flags>`, 55 ASCII bytes),
   * extension record 0x06. Workers start their process span as its child.
   */
  traceparent?: string | undefined;
  /** W3C `tracestate` travelling with `traceparent` (1..512 ASCII bytes), extension record 0x07. */
  tracestate?: string | undefined;
  /**
   * The publisher's namespace (record 0x08): 1..64 UTF-8 bytes. The leader remembers `id` per
   * namespace, so publishers in different namespaces cannot suppress each other's messages. The relay
   * sets it from the authenticated identity.
   */
  namespace?: string | undefined;
}

/**
 * A decoded header. Every key is always present (`undefined` when its field is absent), so every
 * decoded header has the same object shape — cheaper for a hot loop than a varying set of keys.
 */
export interface DecodedHeader {
  readonly id: string | undefined;
  readonly delayMs: number | undefined;
  readonly dueAt: number | undefined;
  readonly affinityKey: string | undefined;
  readonly replyTo: string | undefined;
  readonly timestamp: number | undefined;
  readonly identity: string | undefined;
  readonly attempts: number | undefined;
  readonly expiresAt: number | undefined;
  readonly timeoutMs: number | undefined;
  readonly priority: number | undefined;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly namespace: string | undefined;
}

/** What `decodeEnvelope` finds in a payload. */
export type DecodedEnvelope =
  | { readonly kind: 'plain'; readonly body: Buffer }
  | {
      readonly kind: 'envelope';
      readonly version: number;
      readonly header: DecodedHeader;
      /** The body, a view into the payload (not a copy). */
      readonly body: Buffer;
      /** Bytes of header before the body (at least 3). */
      readonly headerLength: number;
    }
  | { readonly kind: 'malformed'; readonly reason: string };
