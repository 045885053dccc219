import {
  ENVELOPE_FIXED_BYTES,
  ENVELOPE_MARKER,
  ENVELOPE_VERSION,
  EnvelopeFlag,
  type EnvelopeHeader,
  EnvelopeRecord,
  MAX_ENVELOPE_ATTEMPTS,
  MAX_ENVELOPE_DELAY_MS,
  MAX_ENVELOPE_EPOCH_MS,
  MAX_ENVELOPE_IDENTITY_BYTES,
  MAX_ENVELOPE_NAMESPACE_BYTES,
  MAX_ENVELOPE_PRIORITY,
  MAX_ENVELOPE_STRING_BYTES,
  MAX_ENVELOPE_TIMEOUT_MS,
} from './format.js';
import { traceparentProblem, tracestateProblem } from './trace-context.js';

/** In unicode mode a surrogate pair is one code point, so this matches only lone surrogates. */
const LONE_SURROGATE = /\p{Cs}/u;
const TWO_POW_32 = 2 ** 32;

/** Extension record header: u8 type + u16 length. */
const RECORD_HEAD_BYTES = 3;

function stringBytes(name: string, value: unknown, max = MAX_ENVELOPE_STRING_BYTES): number {
  if (typeof value !== 'string')
    throw new TypeError(`envelope ${name} must be a string, got ${typeof value}`);
  if (LONE_SURROGATE.test(value)) {
    throw new RangeError(`envelope ${name} contains a lone surrogate; it has no exact UTF-8 encoding`);
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes === 0) throw new RangeError(`envelope ${name} is empty; leave it undefined instead`);
  if (bytes > max) throw new RangeError(`envelope ${name} is ${bytes} UTF-8 bytes; the limit is ${max}`);
  return bytes;
}

/** An ASCII trace-context field as bytes, checked by the decoder's own rule; throws RangeError. */
function traceBytes(
  name: 'traceparent' | 'tracestate',
  value: unknown,
  problem: (bytes: Uint8Array, start: number, end: number) => string | undefined,
): number {
  if (typeof value !== 'string')
    throw new TypeError(`envelope ${name} must be a string, got ${typeof value}`);
  // Latin-1 keeps one byte per UTF-16 unit, so any non-ASCII character fails the byte checks.
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7e) throw new RangeError(`envelope ${name} is not ASCII`);
  }
  const reason = problem(Buffer.from(value, 'latin1'), 0, value.length);
  if (reason !== undefined) throw new RangeError(`envelope ${reason}`);
  return value.length;
}

function checkInteger(name: string, value: unknown, max: number, min = 0): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`envelope ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Writes the head of a fixed-size option record and returns the offset of its value. */
function recordHead(out: Buffer, offset: number, type: number, length: number): number {
  out[offset] = type;
  out.writeUInt16BE(length, offset + 1);
  return offset + RECORD_HEAD_BYTES;
}

/** Writes a non-negative safe integer as u64 big-endian (two u32 halves: no BigInt). */
function writeU64(out: Buffer, value: number, offset: number): void {
  const high = Math.floor(value / TWO_POW_32);
  out.writeUInt32BE(high, offset);
  out.writeUInt32BE(value - high * TWO_POW_32, offset + 4);
}

/** Writes one record of checked ASCII at `offset`; returns the offset after it. */
function writeAsciiRecord(out: Buffer, offset: number, type: number, value: string): number {
  out[offset] = type;
  out.writeUInt16BE(value.length, offset + 1);
  return offset + RECORD_HEAD_BYTES + out.write(value, offset + RECORD_HEAD_BYTES, value.length, 'latin1');
}

/**
 * Encodes `header` and `body` into one payload: the envelope header (wire format version 1, see
 * `format.ts` / WIRE-FORMAT.md) followed by the body bytes. An empty header gives the 3-byte empty
 * envelope, which is how a binary body starting with 0xFE is protected from being misread.
 *
 * Throws `TypeError`/`RangeError` when a field is out of range (strings must be 1..255 bytes of
 * well-formed UTF-8, `identity` 1..1024, `delayMs` an integer 0..2^32-1, `dueAt`/`timestamp`/`expiresAt`
 * integers 0..2^53-1, not both `delayMs` and `dueAt`, `attempts` 1..255, `timeoutMs` 1..2^32-1,
 * `priority` 0..9, `traceparent` a W3C version-00 traceparent, `tracestate` W3C list syntax and only
 * with a `traceparent`). Undefined fields are omitted; the extension block (flag 0x40) is written only
 * when an extension field (`identity`, `attempts`, `expiresAt`, `timeoutMs`, `priority`, `traceparent`)
 * is set.
 */
export function encodeEnvelope(header: EnvelopeHeader, body: Buffer | Uint8Array | string): Buffer {
  const { id, delayMs, dueAt, affinityKey, replyTo, timestamp, identity, traceparent, tracestate } = header;
  const { attempts, expiresAt, timeoutMs, priority, namespace } = header;
  let flags = 0;
  let size = ENVELOPE_FIXED_BYTES;
  let idBytes = 0;
  let affinityBytes = 0;
  let replyBytes = 0;
  if (id !== undefined) {
    idBytes = stringBytes('id', id);
    flags |= EnvelopeFlag.id;
    size += 1 + idBytes;
  }
  if (delayMs !== undefined) {
    checkInteger('delayMs', delayMs, MAX_ENVELOPE_DELAY_MS);
    flags |= EnvelopeFlag.delayMs;
    size += 4;
  }
  if (dueAt !== undefined) {
    if (delayMs !== undefined)
      throw new RangeError('envelope delayMs and dueAt are mutually exclusive; set one');
    checkInteger('dueAt', dueAt, MAX_ENVELOPE_EPOCH_MS);
    flags |= EnvelopeFlag.dueAt;
    size += 8;
  }
  if (affinityKey !== undefined) {
    affinityBytes = stringBytes('affinityKey', affinityKey);
    flags |= EnvelopeFlag.affinityKey;
    size += 1 + affinityBytes;
  }
  if (replyTo !== undefined) {
    replyBytes = stringBytes('replyTo', replyTo);
    flags |= EnvelopeFlag.replyTo;
    size += 1 + replyBytes;
  }
  if (timestamp !== undefined) {
    checkInteger('timestamp', timestamp, MAX_ENVELOPE_EPOCH_MS);
    flags |= EnvelopeFlag.timestamp;
    size += 8;
  }
  let identityBytes = 0;
  let extBytes = 0;
  if (identity !== undefined) {
    identityBytes = stringBytes('identity', identity, MAX_ENVELOPE_IDENTITY_BYTES);
    extBytes += RECORD_HEAD_BYTES + identityBytes;
  }
  if (attempts !== undefined) {
    checkInteger('attempts', attempts, MAX_ENVELOPE_ATTEMPTS, 1);
    extBytes += RECORD_HEAD_BYTES + 1;
  }
  if (expiresAt !== undefined) {
    checkInteger('expiresAt', expiresAt, MAX_ENVELOPE_EPOCH_MS);
    extBytes += RECORD_HEAD_BYTES + 8;
  }
  if (timeoutMs !== undefined) {
    checkInteger('timeoutMs', timeoutMs, MAX_ENVELOPE_TIMEOUT_MS, 1);
    extBytes += RECORD_HEAD_BYTES + 4;
  }
  if (priority !== undefined) {
    checkInteger('priority', priority, MAX_ENVELOPE_PRIORITY);
    extBytes += RECORD_HEAD_BYTES + 1;
  }
  if (traceparent !== undefined) {
    extBytes += RECORD_HEAD_BYTES + traceBytes('traceparent', traceparent, traceparentProblem);
  }
  let tracestateBytes = 0;
  if (tracestate !== undefined) {
    if (traceparent === undefined)
      throw new RangeError('envelope tracestate needs a traceparent; it means nothing alone');
    tracestateBytes = traceBytes('tracestate', tracestate, tracestateProblem);
    extBytes += RECORD_HEAD_BYTES + tracestateBytes;
  }
  let namespaceBytes = 0;
  if (namespace !== undefined) {
    namespaceBytes = stringBytes('namespace', namespace, MAX_ENVELOPE_NAMESPACE_BYTES);
    extBytes += RECORD_HEAD_BYTES + namespaceBytes;
  }
  if (extBytes > 0) {
    flags |= EnvelopeFlag.ext;
    size += 2 + extBytes;
  }

  const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  // Every byte is written below, so the uninitialised allocation never leaks old memory.
  const out = Buffer.allocUnsafe(size + bodyBytes);
  out[0] = ENVELOPE_MARKER;
  out[1] = ENVELOPE_VERSION;
  out[2] = flags;
  let offset = ENVELOPE_FIXED_BYTES;
  if (id !== undefined) {
    out[offset] = idBytes;
    offset += 1 + out.write(id, offset + 1, idBytes, 'utf8');
  }
  if (delayMs !== undefined) {
    out.writeUInt32BE(delayMs, offset);
    offset += 4;
  }
  if (dueAt !== undefined) {
    writeU64(out, dueAt, offset);
    offset += 8;
  }
  if (affinityKey !== undefined) {
    out[offset] = affinityBytes;
    offset += 1 + out.write(affinityKey, offset + 1, affinityBytes, 'utf8');
  }
  if (replyTo !== undefined) {
    out[offset] = replyBytes;
    offset += 1 + out.write(replyTo, offset + 1, replyBytes, 'utf8');
  }
  if (timestamp !== undefined) {
    writeU64(out, timestamp, offset);
    offset += 8;
  }
  if (extBytes > 0) {
    out.writeUInt16BE(extBytes, offset);
    offset += 2;
    if (identity !== undefined) {
      out[offset] = EnvelopeRecord.identity;
      out.writeUInt16BE(identityBytes, offset + 1);
      offset += RECORD_HEAD_BYTES + out.write(identity, offset + RECORD_HEAD_BYTES, identityBytes, 'utf8');
    }
    if (attempts !== undefined) {
      offset = recordHead(out, offset, EnvelopeRecord.attempts, 1);
      out[offset++] = attempts;
    }
    if (expiresAt !== undefined) {
      offset = recordHead(out, offset, EnvelopeRecord.expiresAt, 8);
      writeU64(out, expiresAt, offset);
      offset += 8;
    }
    if (timeoutMs !== undefined) {
      offset = recordHead(out, offset, EnvelopeRecord.timeoutMs, 4);
      out.writeUInt32BE(timeoutMs, offset);
      offset += 4;
    }
    if (priority !== undefined) {
      offset = recordHead(out, offset, EnvelopeRecord.priority, 1);
      out[offset++] = priority;
    }
    if (traceparent !== undefined)
      offset = writeAsciiRecord(out, offset, EnvelopeRecord.traceparent, traceparent);
    if (tracestate !== undefined)
      offset = writeAsciiRecord(out, offset, EnvelopeRecord.tracestate, tracestate);
    if (namespace !== undefined) {
      out[offset] = EnvelopeRecord.namespace;
      out.writeUInt16BE(namespaceBytes, offset + 1);
      offset += RECORD_HEAD_BYTES + out.write(namespace, offset + RECORD_HEAD_BYTES, namespaceBytes, 'utf8');
    }
  }
  if (typeof body === 'string') out.write(body, offset, bodyBytes, 'utf8');
  else out.set(body, offset);
  return out;
}
