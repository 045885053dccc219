/**
 * Outbound entries: one reply waiting in an outbound queue. The worker encodes the tail; the settle
 * script prefixes the Redis server time, so retention is measured on one clock.
 *
 * ```text
 * entry := enqueuedAtMs (decimal ASCII) ':' tail
 * tail  := 0x01 (version) | flags u8 (bit 0: text) | u8 len + message id | u8 len + replyTo | payload
 * dead  := deadAtMs (decimal) ':' reasonLength (decimal) ':' reason entry
 * ```
 * Every field is length-prefixed and the payload is the rest, so replies stay byte-exact.
 */
export const OUTBOUND_ENTRY_VERSION = 1;
const FLAG_TEXT = 0x01;
const COLON = 0x3a;

export interface OutboundReply {
  /** Leader-assigned id of the message this answers. */
  readonly messageId: string;
  /** The reply address, as the envelope carried it. */
  readonly replyTo: string;
  readonly payload: Buffer;
  /** The handler replied with text (a string or JSON): relays send it as a text frame. */
  readonly text: boolean;
}

export interface OutboundEntry extends OutboundReply {
  /** Redis server time (ms) when the settle script queued it. */
  readonly enqueuedAt: number;
  /** The bytes as stored: the handle for removing it from a processing list. */
  readonly raw: Buffer;
}

export interface DeadOutboundEntry {
  readonly deadAt: number;
  readonly reason: string;
  /** The entry, or undefined when its bytes could not be decoded (they are kept in `raw`). */
  readonly entry: OutboundEntry | undefined;
  readonly raw: Buffer;
}

/** Thrown for bytes that are not an outbound entry. */
export class MalformedOutboundEntryError extends Error {
  override readonly name = 'MalformedOutboundEntryError';
}

function short(field: string, value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < 1 || bytes.length > 255) throw new RangeError(`${field} must be 1..255 UTF-8 bytes`);
  return bytes;
}

/** The part of an entry the worker writes (everything after the server time). */
export function encodeOutboundTail(reply: OutboundReply): Buffer {
  const id = short('messageId', reply.messageId);
  const to = short('replyTo', reply.replyTo);
  return Buffer.concat([
    Buffer.from([OUTBOUND_ENTRY_VERSION, reply.text ? FLAG_TEXT : 0, id.length]),
    id,
    Buffer.from([to.length]),
    to,
    reply.payload,
  ]);
}

/** A complete entry, as the settle script would store it (for tests and tools). */
export function encodeOutboundEntry(reply: OutboundReply, enqueuedAt: number): Buffer {
  return Buffer.concat([Buffer.from(`${enqueuedAt}:`), encodeOutboundTail(reply)]);
}

function decimalUntilColon(raw: Buffer, from: number, what: string): [number, number] {
  const colon = raw.indexOf(COLON, from);
  if (colon <= from || colon - from > 16) throw new MalformedOutboundEntryError(`bad ${what}`);
  const value = Number(raw.toString('latin1', from, colon));
  if (!Number.isSafeInteger(value) || value < 0) throw new MalformedOutboundEntryError(`bad ${what}`);
  return [value, colon + 1];
}

export function decodeOutboundEntry(raw: Buffer): OutboundEntry {
  const [enqueuedAt, start] = decimalUntilColon(raw, 0, 'enqueue time');
  if (raw.length < start + 4 || raw[start] !== OUTBOUND_ENTRY_VERSION)
    throw new MalformedOutboundEntryError('unsupported entry version');
  const text = ((raw[start + 1] ?? 0) & FLAG_TEXT) !== 0;
  const idLength = raw[start + 2] ?? 0;
  const idEnd = start + 3 + idLength;
  const toLength = raw[idEnd] ?? 0;
  const toEnd = idEnd + 1 + toLength;
  if (idLength === 0 || toLength === 0 || toEnd > raw.length)
    throw new MalformedOutboundEntryError('truncated entry');
  return {
    enqueuedAt,
    messageId: raw.toString('utf8', start + 3, idEnd),
    replyTo: raw.toString('utf8', idEnd + 1, toEnd),
    text,
    payload: raw.subarray(toEnd),
    raw,
  };
}

export function decodeDeadOutboundEntry(raw: Buffer): DeadOutboundEntry {
  const [deadAt, afterTime] = decimalUntilColon(raw, 0, 'dead-letter time');
  const [reasonLength, reasonStart] = decimalUntilColon(raw, afterTime, 'reason length');
  const reason = raw.toString('utf8', reasonStart, reasonStart + reasonLength);
  const rest = raw.subarray(reasonStart + reasonLength);
  let entry: OutboundEntry | undefined;
  try {
    entry = decodeOutboundEntry(rest);
  } catch {
    entry = undefined;
  }
  return { deadAt, reason, entry, raw: rest };
}
