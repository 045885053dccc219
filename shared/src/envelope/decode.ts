import { isUtf8 } from 'node:buffer';
import {
  type DecodedEnvelope,
  type DecodedHeader,
  ENVELOPE_FIXED_BYTES,
  ENVELOPE_KNOWN_FLAGS,
  ENVELOPE_MARKER,
  ENVELOPE_VERSION,
  EnvelopeFlag,
  EnvelopeRecord,
  MAX_ENVELOPE_ATTEMPTS,
  MAX_ENVELOPE_IDENTITY_BYTES,
  MAX_ENVELOPE_NAMESPACE_BYTES,
  MAX_ENVELOPE_PRIORITY,
} from './format.js';
import { traceparentProblem, tracestateProblem } from './trace-context.js';

const TWO_POW_32 = 2 ** 32;
/** Largest high u32 half of a u64 that stays within 2^53-1. */
const MAX_SAFE_HIGH = 0x1f_ffff;
const hex = (byte: number): string => `0x${byte.toString(16).padStart(2, '0')}`;

/**
 * Where the fields of the last scanned header are. One module-level instance, overwritten by every
 * scan: JavaScript is single-threaded and nothing between a scan and its read yields, so this costs
 * no allocation per message. String fields are kept as byte ranges (end 0 = absent).
 */
const scratch = {
  flags: 0,
  idStart: 0,
  idEnd: 0,
  delayMs: 0,
  dueAt: 0,
  affinityStart: 0,
  affinityEnd: 0,
  replyStart: 0,
  replyEnd: 0,
  timestamp: 0,
  identityStart: 0,
  identityEnd: 0,
  /** Bit per option record seen in the last scan (1 << type); 0 for the usual header without them. */
  options: 0,
  attempts: 0,
  expiresAt: 0,
  timeoutMs: 0,
  priority: 0,
  traceparentStart: 0,
  traceparentEnd: 0,
  tracestateStart: 0,
  tracestateEnd: 0,
  namespaceStart: 0,
  namespaceEnd: 0,
  headerLength: 0,
};

const RECORD_NAMES = ['', 'identity', 'attempts', 'expiresAt', 'timeoutMs', 'priority'];
/** Value size of each fixed-size option record, by type. */
const RECORD_SIZES = [0, 0, 1, 8, 4, 1];

/** Checks one fixed-size option record (types 0x02..0x05) and stores it in `scratch`; a reason or undefined. */
function optionRecord(payload: Buffer, type: number, at: number, length: number): string | undefined {
  const s = scratch;
  const name = RECORD_NAMES[type]!;
  const bit = 1 << type;
  if ((s.options & bit) !== 0) return `duplicate ext record ${name} (type ${hex(type)}) at offset ${at}`;
  if (length !== RECORD_SIZES[type]) {
    return `${name} has length ${length} at offset ${at + 1}; it must be ${RECORD_SIZES[type]} bytes`;
  }
  const value = at + 3;
  s.options |= bit;
  if (type === EnvelopeRecord.attempts) {
    s.attempts = payload[value]!;
    if (s.attempts === 0) return `attempts is 0 at offset ${value}; it must be 1..${MAX_ENVELOPE_ATTEMPTS}`;
  } else if (type === EnvelopeRecord.expiresAt) {
    const expiresAt = u53(payload, value, 'expiresAt');
    if (typeof expiresAt === 'string') return expiresAt;
    s.expiresAt = expiresAt;
  } else if (type === EnvelopeRecord.timeoutMs) {
    s.timeoutMs = payload.readUInt32BE(value);
    if (s.timeoutMs === 0) return `timeoutMs is 0 at offset ${value}; it must be at least 1`;
  } else {
    s.priority = payload[value]!;
    if (s.priority > MAX_ENVELOPE_PRIORITY) {
      return `priority ${s.priority} at offset ${value} is out of range 0..${MAX_ENVELOPE_PRIORITY}`;
    }
  }
  return undefined;
}

/** Valid UTF-8? ASCII (the usual case) is checked in place; only other bytes pay for a view. */
function utf8(payload: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (payload[i]! >= 0x80) return isUtf8(payload.subarray(start, end));
  }
  return true;
}

/** Checks a u8-length string at `offset`; returns its end offset, or a reason. */
function stringField(payload: Buffer, offset: number, name: string): number | string {
  if (offset >= payload.length) return `truncated: ${name} length byte missing at offset ${offset}`;
  const length = payload[offset]!;
  if (length === 0)
    return `${name} has length 0 at offset ${offset}; an absent field must clear its flag instead`;
  const start = offset + 1;
  const end = start + length;
  if (end > payload.length) {
    return `truncated: ${name} declares ${length} bytes at offset ${start} but only ${payload.length - start} remain`;
  }
  if (!utf8(payload, start, end)) return `${name} (bytes ${start}..${end - 1}) is not valid UTF-8`;
  return end;
}

function fixedMissing(payload: Buffer, offset: number, size: number, name: string): string | undefined {
  const remaining = payload.length - offset;
  return remaining < size
    ? `truncated: ${name} needs ${size} bytes at offset ${offset} but only ${remaining} remain`
    : undefined;
}

/** Reads a u64 that must fit 2^53-1; returns the value, or a reason. */
function u53(payload: Buffer, offset: number, name: string): number | string {
  const high = payload.readUInt32BE(offset);
  if (high > MAX_SAFE_HIGH) {
    return `${name} ${payload.readBigUInt64BE(offset)} at offset ${offset} exceeds 2^53-1 (Number.MAX_SAFE_INTEGER)`;
  }
  return high * TWO_POW_32 + payload.readUInt32BE(offset + 4);
}

/**
 * Checks the extension block at `offset` (flag 0x40) and records the known records in `scratch`;
 * returns the block's end offset, or a reason. Records of unknown types are skipped unread.
 */
function extBlock(payload: Buffer, offset: number): number | string {
  const missing = fixedMissing(payload, offset, 2, 'ext block length');
  if (missing !== undefined) return missing;
  const blockLength = payload.readUInt16BE(offset);
  if (blockLength === 0) {
    return `ext block has length 0 at offset ${offset}; an envelope without extension records must clear flag 0x40 instead`;
  }
  const start = offset + 2;
  const end = start + blockLength;
  if (end > payload.length) {
    return `truncated: ext block declares ${blockLength} bytes at offset ${start} but only ${payload.length - start} remain`;
  }
  const s = scratch;
  let at = start;
  while (at < end) {
    if (end - at < 3) {
      return `ext record at offset ${at} needs 3 bytes (type, length) but only ${end - at} remain in the ext block`;
    }
    const type = payload[at]!;
    const length = payload.readUInt16BE(at + 1);
    const valueStart = at + 3;
    const valueEnd = valueStart + length;
    if (valueEnd > end) {
      return `ext record type ${hex(type)} at offset ${at} declares ${length} bytes but only ${end - valueStart} remain in the ext block`;
    }
    if (type === EnvelopeRecord.identity) {
      if (s.identityEnd !== 0) return `duplicate ext record identity (type 0x01) at offset ${at}`;
      if (length === 0 || length > MAX_ENVELOPE_IDENTITY_BYTES) {
        return `identity has length ${length} at offset ${at + 1}; it must be 1..${MAX_ENVELOPE_IDENTITY_BYTES} bytes`;
      }
      if (!utf8(payload, valueStart, valueEnd)) {
        return `identity (bytes ${valueStart}..${valueEnd - 1}) is not valid UTF-8`;
      }
      s.identityStart = valueStart;
      s.identityEnd = valueEnd;
    } else if (type >= EnvelopeRecord.attempts && type <= EnvelopeRecord.priority) {
      const reason = optionRecord(payload, type, at, length);
      if (reason !== undefined) return reason;
    } else if (type === EnvelopeRecord.traceparent) {
      if (s.traceparentEnd !== 0) return `duplicate ext record traceparent (type 0x06) at offset ${at}`;
      const problem = traceparentProblem(payload, valueStart, valueEnd);
      if (problem !== undefined) return `${problem} (ext record at offset ${at})`;
      s.traceparentStart = valueStart;
      s.traceparentEnd = valueEnd;
    } else if (type === EnvelopeRecord.tracestate) {
      if (s.tracestateEnd !== 0) return `duplicate ext record tracestate (type 0x07) at offset ${at}`;
      const problem = tracestateProblem(payload, valueStart, valueEnd);
      if (problem !== undefined) return `${problem} (ext record at offset ${at})`;
      s.tracestateStart = valueStart;
      s.tracestateEnd = valueEnd;
    } else if (type === EnvelopeRecord.namespace) {
      if (s.namespaceEnd !== 0) return `duplicate ext record namespace (type 0x08) at offset ${at}`;
      if (length === 0 || length > MAX_ENVELOPE_NAMESPACE_BYTES) {
        return `namespace has length ${length} at offset ${at + 1}; it must be 1..${MAX_ENVELOPE_NAMESPACE_BYTES} bytes`;
      }
      if (!utf8(payload, valueStart, valueEnd)) {
        return `namespace (bytes ${valueStart}..${valueEnd - 1}) is not valid UTF-8`;
      }
      s.namespaceStart = valueStart;
      s.namespaceEnd = valueEnd;
    }
    at = valueEnd;
  }
  if (s.tracestateEnd !== 0 && s.traceparentEnd === 0) {
    return 'ext record tracestate (type 0x07) without a traceparent (type 0x06)';
  }
  return end;
}

/**
 * Validates the header of a payload that starts with the marker and fills `scratch`. Returns
 * `undefined` when the header is valid, else the reason it is malformed.
 */
function scan(payload: Buffer): string | undefined {
  const length = payload.length;
  if (length < 2) return 'truncated: payload is the 0xFE envelope marker alone (no version byte)';
  const version = payload[1]!;
  if (version !== ENVELOPE_VERSION) {
    return (
      `unsupported envelope version ${version} (this decoder reads version ${ENVELOPE_VERSION}); ` +
      'a payload starting with byte 0xFE is always an envelope — wrap raw binary in an empty envelope (FE 01 00)'
    );
  }
  if (length < ENVELOPE_FIXED_BYTES) return 'truncated: flags byte missing at offset 2';
  const flags = payload[2]!;
  if ((flags & ~ENVELOPE_KNOWN_FLAGS) !== 0) {
    return `unknown flag bits ${hex(flags & ~ENVELOPE_KNOWN_FLAGS)} set (flags byte ${hex(flags)}); version 1 defines ${hex(ENVELOPE_KNOWN_FLAGS)} only`;
  }
  if ((flags & EnvelopeFlag.delayMs) !== 0 && (flags & EnvelopeFlag.dueAt) !== 0) {
    return `both delayMs (flag 0x02) and dueAt (flag 0x04) are set (flags byte ${hex(flags)}); they are mutually exclusive`;
  }
  const s = scratch;
  s.flags = flags;
  s.idEnd = 0;
  s.affinityEnd = 0;
  s.replyEnd = 0;
  s.identityEnd = 0;
  s.options = 0;
  s.traceparentEnd = 0;
  s.tracestateEnd = 0;
  s.namespaceEnd = 0;
  let offset = ENVELOPE_FIXED_BYTES;
  if ((flags & EnvelopeFlag.id) !== 0) {
    const end = stringField(payload, offset, 'id');
    if (typeof end === 'string') return end;
    s.idStart = offset + 1;
    s.idEnd = end;
    offset = end;
  }
  if ((flags & EnvelopeFlag.delayMs) !== 0) {
    const missing = fixedMissing(payload, offset, 4, 'delayMs');
    if (missing !== undefined) return missing;
    s.delayMs = payload.readUInt32BE(offset);
    offset += 4;
  }
  if ((flags & EnvelopeFlag.dueAt) !== 0) {
    const missing = fixedMissing(payload, offset, 8, 'dueAt');
    if (missing !== undefined) return missing;
    const value = u53(payload, offset, 'dueAt');
    if (typeof value === 'string') return value;
    s.dueAt = value;
    offset += 8;
  }
  if ((flags & EnvelopeFlag.affinityKey) !== 0) {
    const end = stringField(payload, offset, 'affinityKey');
    if (typeof end === 'string') return end;
    s.affinityStart = offset + 1;
    s.affinityEnd = end;
    offset = end;
  }
  if ((flags & EnvelopeFlag.replyTo) !== 0) {
    const end = stringField(payload, offset, 'replyTo');
    if (typeof end === 'string') return end;
    s.replyStart = offset + 1;
    s.replyEnd = end;
    offset = end;
  }
  if ((flags & EnvelopeFlag.timestamp) !== 0) {
    const missing = fixedMissing(payload, offset, 8, 'timestamp');
    if (missing !== undefined) return missing;
    const value = u53(payload, offset, 'timestamp');
    if (typeof value === 'string') return value;
    s.timestamp = value;
    offset += 8;
  }
  if ((flags & EnvelopeFlag.ext) !== 0) {
    const end = extBlock(payload, offset);
    if (typeof end === 'string') return end;
    offset = end;
  }
  s.headerLength = offset;
  return undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Copies the option records of the last scan into `header`. */
function readOptions(header: Mutable<DecodedHeader>): void {
  const s = scratch;
  if ((s.options & (1 << EnvelopeRecord.attempts)) !== 0) header.attempts = s.attempts;
  if ((s.options & (1 << EnvelopeRecord.expiresAt)) !== 0) header.expiresAt = s.expiresAt;
  if ((s.options & (1 << EnvelopeRecord.timeoutMs)) !== 0) header.timeoutMs = s.timeoutMs;
  if ((s.options & (1 << EnvelopeRecord.priority)) !== 0) header.priority = s.priority;
}

/** Does the payload start with the envelope marker? One byte compare; says nothing about validity. */
export function hasEnvelopeMarker(payload: Buffer): boolean {
  return payload.length > 0 && payload[0] === ENVELOPE_MARKER;
}

/**
 * Hot-path verdict without building strings or objects: `0` for a plain payload, the header length
 * (≥ 3, the offset where the body starts) for a valid envelope, `-1` for a malformed one (call
 * `decodeEnvelope` for the reason). Always agrees with `decodeEnvelope`; validates just as much.
 */
export function envelopeHeaderLength(payload: Buffer): number {
  if (payload.length === 0 || payload[0] !== ENVELOPE_MARKER) return 0;
  return scan(payload) === undefined ? scratch.headerLength : -1;
}

/**
 * Splits a pub/sub payload into header and body. Never throws and never copies the body: a plain
 * payload's body is the payload itself, an envelope's body is a `subarray` view of it. Every rule of
 * the wire format is checked; a violation gives `{ kind: 'malformed', reason }`, one human-readable line.
 */
export function decodeEnvelope(payload: Buffer): DecodedEnvelope {
  if (payload.length === 0 || payload[0] !== ENVELOPE_MARKER) return { kind: 'plain', body: payload };
  const reason = scan(payload);
  if (reason !== undefined) return { kind: 'malformed', reason };
  const s = scratch;
  const flags = s.flags;
  const header: DecodedHeader = {
    id: s.idEnd === 0 ? undefined : payload.toString('utf8', s.idStart, s.idEnd),
    delayMs: (flags & EnvelopeFlag.delayMs) === 0 ? undefined : s.delayMs,
    dueAt: (flags & EnvelopeFlag.dueAt) === 0 ? undefined : s.dueAt,
    affinityKey: s.affinityEnd === 0 ? undefined : payload.toString('utf8', s.affinityStart, s.affinityEnd),
    replyTo: s.replyEnd === 0 ? undefined : payload.toString('utf8', s.replyStart, s.replyEnd),
    timestamp: (flags & EnvelopeFlag.timestamp) === 0 ? undefined : s.timestamp,
    identity: s.identityEnd === 0 ? undefined : payload.toString('utf8', s.identityStart, s.identityEnd),
    attempts: undefined,
    expiresAt: undefined,
    timeoutMs: undefined,
    priority: undefined,
    traceparent:
      s.traceparentEnd === 0 ? undefined : payload.toString('latin1', s.traceparentStart, s.traceparentEnd),
    tracestate:
      s.tracestateEnd === 0 ? undefined : payload.toString('latin1', s.tracestateStart, s.tracestateEnd),
    namespace: s.namespaceEnd === 0 ? undefined : payload.toString('utf8', s.namespaceStart, s.namespaceEnd),
  };
  // Only a header with option records pays for reading them (same object shape either way).
  if (s.options !== 0) readOptions(header as Mutable<DecodedHeader>);
  return {
    kind: 'envelope',
    version: ENVELOPE_VERSION,
    header,
    body: payload.subarray(s.headerLength),
    headerLength: s.headerLength,
  };
}

/**
 * The `traceparent` of a payload, reading its header only (never the body): undefined for a plain
 * payload, a malformed envelope or one without trace context. Allocates only when there is one, so
 * the leader can look for trace context in every message of a batch at the cost of a check.
 */
export function envelopeTraceparent(payload: Buffer): string | undefined {
  if (payload.length === 0 || payload[0] !== ENVELOPE_MARKER) return undefined;
  // No ext flag, no trace context: skip the scan (the leader already validated the header).
  if (payload.length < ENVELOPE_FIXED_BYTES || (payload[2]! & EnvelopeFlag.ext) === 0) return undefined;
  if (scan(payload) !== undefined || scratch.traceparentEnd === 0) return undefined;
  return payload.toString('latin1', scratch.traceparentStart, scratch.traceparentEnd);
}
