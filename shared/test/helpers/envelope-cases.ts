import {
  type DecodedEnvelope,
  decodeEnvelope,
  type EnvelopeHeader,
  envelopeHeaderLength,
  MAX_ENVELOPE_DELAY_MS,
  MAX_ENVELOPE_EPOCH_MS,
} from '@redispatch/shared';
import fc from 'fast-check';
import { expect } from 'vitest';

/** The flag-byte fields, in flag-bit order (the extension block's `identity` is not one of them). */
export const FIELDS = ['id', 'delayMs', 'dueAt', 'affinityKey', 'replyTo', 'timestamp'] as const;
export const SAMPLE: Required<Pick<EnvelopeHeader, (typeof FIELDS)[number]>> = {
  id: 'msg-0001',
  delayMs: 1_500,
  dueAt: 1_763_800_000_123,
  affinityKey: 'account:42',
  replyTo: 'replies:çé✓😀',
  timestamp: 1_763_799_999_000,
};
const STRING_FIELDS = new Set<string>(['id', 'affinityKey', 'replyTo']);

/** The decoded form of a header: all eleven keys, `undefined` for an absent field. */
export function normalized(header: EnvelopeHeader) {
  return {
    id: header.id,
    delayMs: header.delayMs,
    dueAt: header.dueAt,
    affinityKey: header.affinityKey,
    replyTo: header.replyTo,
    timestamp: header.timestamp,
    identity: header.identity,
    attempts: header.attempts,
    expiresAt: header.expiresAt,
    timeoutMs: header.timeoutMs,
    priority: header.priority,
    traceparent: header.traceparent,
    tracestate: header.tracestate,
    namespace: header.namespace,
  };
}

/** Header size computed independently from the spec table (ext block: u16 length + one record). */
export function expectedHeaderLength(header: EnvelopeHeader): number {
  let size = 3;
  for (const field of FIELDS) {
    const value = header[field];
    if (value === undefined) continue;
    if (STRING_FIELDS.has(field)) size += 1 + Buffer.byteLength(value as string, 'utf8');
    else size += field === 'delayMs' ? 4 : 8;
  }
  let ext = 0;
  if (header.identity !== undefined) ext += 3 + Buffer.byteLength(header.identity, 'utf8');
  if (header.attempts !== undefined) ext += 3 + 1;
  if (header.expiresAt !== undefined) ext += 3 + 8;
  if (header.timeoutMs !== undefined) ext += 3 + 4;
  if (header.priority !== undefined) ext += 3 + 1;
  if (header.traceparent !== undefined) ext += 3 + 55;
  if (header.tracestate !== undefined) ext += 3 + header.tracestate.length;
  if (header.namespace !== undefined) ext += 3 + Buffer.byteLength(header.namespace, 'utf8');
  return ext === 0 ? size : size + 2 + ext;
}

export function expectEnvelope(decoded: DecodedEnvelope): Extract<DecodedEnvelope, { kind: 'envelope' }> {
  if (decoded.kind !== 'envelope') throw new Error(`expected an envelope, got ${JSON.stringify(decoded)}`);
  return decoded;
}

export function expectMalformed(payload: Buffer, reason: RegExp): void {
  const decoded = decodeEnvelope(payload);
  expect(decoded.kind).toBe('malformed');
  if (decoded.kind === 'malformed') expect(decoded.reason).toMatch(reason);
  expect(envelopeHeaderLength(payload)).toBe(-1);
}

export const bytes = (...values: number[]) => Buffer.from(values);

/** A string of 1..255 UTF-8 bytes, any code points (ASCII, multi-byte, astral). */
export const envelopeString = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 120 })
  .filter((s) => Buffer.byteLength(s, 'utf8') <= 255);
/** An identity of 1..1024 UTF-8 bytes, any code points. */
export const identityString = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 500 })
  .filter((s) => Buffer.byteLength(s, 'utf8') <= 1024);
const hexDigits = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
/** A W3C version-00 traceparent: random lower-case hex ids (not all zero) and flags. */
export const traceparentArb = fc
  .tuple(hexDigits(32), hexDigits(16), hexDigits(2))
  .filter(([trace, span]) => /[^0]/.test(trace) && /[^0]/.test(span))
  .map(([trace, span, flags]) => `00-${trace}-${span}-${flags}`);
const stateKey = fc.stringMatching(/^[a-z][a-z0-9_*/-]{0,12}(@[a-z][a-z0-9_*/-]{0,5})?$/);
const stateValue = fc.stringMatching(/^[!-+\--<>-~]( ?[!-+\--<>-~]){0,10}$/);
/** A W3C tracestate list: 1..8 `key=value` members joined by `,` with optional spaces. */
export const tracestateArb = fc
  .array(fc.tuple(stateKey, stateValue), { minLength: 1, maxLength: 8 })
  .chain((members) =>
    fc
      .constantFrom(',', ', ', ' ,\t')
      .map((separator) => members.map(([k, v]) => `${k}=${v}`).join(separator)),
  );
const epochMs = fc.integer({ min: 0, max: MAX_ENVELOPE_EPOCH_MS });
export const headerArb: fc.Arbitrary<EnvelopeHeader> = fc
  .tuple(
    fc.record(
      {
        id: envelopeString,
        affinityKey: envelopeString,
        replyTo: envelopeString,
        timestamp: epochMs,
        identity: identityString,
        attempts: fc.integer({ min: 1, max: 255 }),
        expiresAt: epochMs,
        timeoutMs: fc.integer({ min: 1, max: 0xffff_ffff }),
        priority: fc.integer({ min: 0, max: 9 }),
        trace: fc.tuple(traceparentArb, fc.option(tracestateArb, { nil: undefined })),
      },
      { requiredKeys: [] },
    ),
    fc.oneof(
      fc.constant({}),
      fc.record({ delayMs: fc.integer({ min: 0, max: MAX_ENVELOPE_DELAY_MS }) }),
      fc.record({ dueAt: epochMs }),
    ),
  )
  .map(([{ trace, ...rest }, timing]) => ({
    ...rest,
    ...timing,
    ...(trace === undefined ? {} : { traceparent: trace[0], tracestate: trace[1] }),
  }));
export const bodyArb = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
