import { readFileSync } from 'node:fs';
import {
  decodeEnvelope,
  ENVELOPE_KNOWN_FLAGS,
  EnvelopeFlag,
  EnvelopeRecord,
  encodeEnvelope,
  envelopeHeaderLength,
  framePayload,
  MAX_ENVELOPE_DELAY_MS,
  MAX_ENVELOPE_ENCODED_HEADER_BYTES,
  MAX_ENVELOPE_EPOCH_MS,
  MAX_ENVELOPE_EXT_BYTES,
  MAX_ENVELOPE_HEADER_BYTES,
  MAX_ENVELOPE_IDENTITY_BYTES,
} from '@redispatch/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bodyArb,
  bytes,
  expectEnvelope,
  expectedHeaderLength,
  expectMalformed,
  headerArb,
  identityString,
  normalized,
} from './helpers/envelope-cases.js';

/** One extension record: u8 type, u16 big-endian length, value. */
function record(type: number, value: Buffer | string): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value) : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** An envelope with only the ext flag: the block (u16 length + records, concatenated) and a body. */
function extPayload(records: Buffer[], body: Buffer | string = 'body', declared?: number): Buffer {
  const block = Buffer.concat(records);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(declared ?? block.length);
  return Buffer.concat([bytes(0xfe, 0x01, EnvelopeFlag.ext), length, block, Buffer.from(body)]);
}

describe('envelope extension block (flag 0x40)', () => {
  it('matches the identity test vector documented in WIRE-FORMAT.md', () => {
    const payload = encodeEnvelope({ id: 'a1', timestamp: 1_700_000_000_000, identity: 'user:42' }, 'hi');
    expect(payload.toString('hex')).toBe(
      'fe0161' + '026131' + '0000018bcfe56800' + '000a' + '010007' + '757365723a3432' + '6869',
    );
    // The vector as WIRE-FORMAT.md prints it (groups separated by two spaces).
    const doc = readFileSync(new URL('../src/envelope/WIRE-FORMAT.md', import.meta.url), 'utf8');
    const documented = doc.split('\n').find((line) => line.startsWith('fe 01 61 '));
    expect(Buffer.from(documented?.replaceAll(' ', '') ?? '', 'hex')).toEqual(payload);
    expect(ENVELOPE_KNOWN_FLAGS).toBe(0x7f);
    expect(EnvelopeFlag.ext).toBe(0x40);
    expect(EnvelopeRecord.identity).toBe(0x01);
  });

  it('round-trips identity alone, with every other field, and at its 1024-byte limit', () => {
    const everything = {
      id: 'msg-1',
      delayMs: 5,
      affinityKey: 'tenant-a',
      replyTo: 'relay:relay-1:3q1nq0CqYbn3aH7uB0J6-w',
      timestamp: 1_763_799_999_000,
    };
    const limit = `${'€'.repeat(341)}x`; // 3 × 341 + 1 = 1024 bytes
    for (const header of [
      { identity: 'u' },
      { ...everything, identity: 'user:çé✓😀' },
      { identity: limit },
    ]) {
      const payload = encodeEnvelope(header, Buffer.from([0xfe, 0x00]));
      expect(payload[2]! & EnvelopeFlag.ext).toBe(EnvelopeFlag.ext);
      const decoded = expectEnvelope(decodeEnvelope(payload));
      expect(decoded.header).toStrictEqual(normalized(header));
      expect(decoded.headerLength).toBe(expectedHeaderLength(header));
      expect(envelopeHeaderLength(payload)).toBe(decoded.headerLength);
      expect(decoded.body).toEqual(Buffer.from([0xfe, 0x00]));
    }
  });

  it('writes the block only when an extension field is set', () => {
    expect(encodeEnvelope({ id: 'a', identity: undefined }, 'b')).toEqual(encodeEnvelope({ id: 'a' }, 'b'));
    expect(encodeEnvelope({ id: 'a' }, 'b')[2]).toBe(EnvelopeFlag.id);
    expect(framePayload('plain', { identity: undefined })).toBe('plain');
    const framed = expectEnvelope(
      decodeEnvelope(Buffer.from(framePayload('b', { identity: 'svc:billing' }))),
    );
    expect(framed.header).toStrictEqual(normalized({ identity: 'svc:billing' }));
  });

  it.each<[string, unknown, RegExp]>([
    ['an empty identity', '', /identity is empty/],
    ['a 1025-byte identity', 'i'.repeat(1025), /identity is 1025 UTF-8 bytes; the limit is 1024/],
    ['an identity with a lone surrogate', 'a\udc00', /identity contains a lone surrogate/],
    ['a non-string identity', 7, /identity must be a string/],
  ])('refuses to encode %s', (_name, identity, message) => {
    expect(() => encodeEnvelope({ identity: identity as string }, 'b')).toThrow(message);
  });

  it('skips records of unknown types wherever they are, and reads identity around them', () => {
    const cases: [Buffer[], string | undefined][] = [
      [[record(0x0b, 'later?'), record(EnvelopeRecord.identity, 'alice')], 'alice'],
      [[record(EnvelopeRecord.identity, 'bob'), record(0xff, Buffer.alloc(300, 0xfe))], 'bob'],
      [[record(0x00, ''), record(0x7f, bytes(0xc3, 0x28)), record(0x7f, 'again')], undefined],
    ];
    for (const [records, identity] of cases) {
      const payload = extPayload(records, 'the body');
      const decoded = expectEnvelope(decodeEnvelope(payload));
      expect(decoded.header).toStrictEqual(normalized({ identity }));
      expect(decoded.body.toString()).toBe('the body');
      expect(decoded.headerLength).toBe(payload.length - 'the body'.length);
      expect(envelopeHeaderLength(payload)).toBe(decoded.headerLength);
    }
  });

  const identity = (value: Buffer | string) => record(EnvelopeRecord.identity, value);
  it.each<[string, Buffer, RegExp]>([
    ['block length 0', extPayload([]), /^ext block has length 0 at offset 3; .*clear flag 0x40/],
    [
      'block length cut',
      bytes(0xfe, 0x01, 0x40, 0x00),
      /^truncated: ext block length needs 2 bytes at offset 3/,
    ],
    [
      'block overrunning the payload',
      extPayload([identity('alice')], '', 20),
      /^truncated: ext block declares 20 bytes at offset 5 but only 8 remain/,
    ],
    [
      'record head cut by the block end',
      extPayload([identity('alice'), bytes(0x0b, 0x00)], 'body'),
      /^ext record at offset 13 needs 3 bytes \(type, length\) but only 2 remain in the ext block/,
    ],
    [
      'record overrunning the block',
      extPayload([record(0x09, 'xyz')], 'body', 5),
      /^ext record type 0x09 at offset 5 declares 3 bytes but only 2 remain in the ext block/,
    ],
    [
      'duplicate identity',
      extPayload([identity('alice'), record(0x0c, ''), identity('alice')]),
      /^duplicate ext record identity \(type 0x01\) at offset 16/,
    ],
    [
      'empty identity',
      extPayload([identity('')]),
      /^identity has length 0 at offset 6; it must be 1..1024 bytes/,
    ],
    [
      '1025-byte identity',
      extPayload([identity('i'.repeat(1025))]),
      /^identity has length 1025 at offset 6; it must be 1..1024/,
    ],
    [
      'identity not UTF-8',
      extPayload([identity(bytes(0x61, 0xed, 0xa0, 0x80))]),
      /^identity \(bytes 8..11\) is not valid UTF-8/,
    ],
    [
      'bit 7 beside bit 6',
      Buffer.concat([bytes(0xfe, 0x01, 0xc0, 0x00, 0x04), identity('a')]),
      /^unknown flag bits 0x80 set \(flags byte 0xc0\); version 1 defines 0x7f only/,
    ],
  ])('reports %s as malformed with its reason', (_name, payload, reason) => {
    expectMalformed(payload, reason);
  });

  it('MAX_ENVELOPE_HEADER_BYTES is the largest header a decoder accepts, ..._ENCODED_... the largest written', () => {
    const longest = {
      id: 'i'.repeat(255),
      dueAt: MAX_ENVELOPE_EPOCH_MS,
      affinityKey: 'a'.repeat(255),
      replyTo: 'r'.repeat(255),
      timestamp: MAX_ENVELOPE_EPOCH_MS,
    };
    const written = encodeEnvelope(
      {
        ...longest,
        identity: 'u'.repeat(MAX_ENVELOPE_IDENTITY_BYTES),
        traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
        tracestate: `k=${'v'.repeat(256)},${'q'.repeat(251)}=1`, // 258 + 1 + 253 = 512 bytes
        attempts: 255,
        expiresAt: MAX_ENVELOPE_EPOCH_MS,
        timeoutMs: 0xffff_ffff,
        priority: 9,
        namespace: 'n'.repeat(64),
      },
      'b',
    );
    expect(envelopeHeaderLength(written)).toBe(MAX_ENVELOPE_ENCODED_HEADER_BYTES);
    expect(MAX_ENVELOPE_ENCODED_HEADER_BYTES).toBe(2482);
    expect(
      encodeEnvelope({ ...longest, delayMs: MAX_ENVELOPE_DELAY_MS, dueAt: undefined }, '').length,
    ).toBeLessThan(787);
    // The same fields with a full block of unknown records: the largest header a decoder takes.
    const fields = encodeEnvelope(longest, '');
    const fullBlock = Buffer.alloc(2 + MAX_ENVELOPE_EXT_BYTES);
    fullBlock.writeUInt16BE(MAX_ENVELOPE_EXT_BYTES, 0);
    record(0x0b, Buffer.alloc(MAX_ENVELOPE_EXT_BYTES - 3)).copy(fullBlock, 2);
    const largest = Buffer.concat([fields, fullBlock, Buffer.from('body')]);
    largest[2] = largest[2]! | EnvelopeFlag.ext;
    expect(fields.length).toBe(787);
    expect(envelopeHeaderLength(largest)).toBe(MAX_ENVELOPE_HEADER_BYTES);
    expect(MAX_ENVELOPE_HEADER_BYTES).toBe(66_324);
  });
});

describe('envelope extension block properties', () => {
  /** Records of any type except the known ones, with arbitrary values. */
  const unknownRecord = fc
    .tuple(
      fc
        .integer({ min: 0, max: 255 })
        .filter(
          (t) =>
            t !== EnvelopeRecord.identity &&
            (t < EnvelopeRecord.attempts || t > EnvelopeRecord.priority) &&
            t !== EnvelopeRecord.traceparent &&
            t !== EnvelopeRecord.tracestate &&
            t !== EnvelopeRecord.namespace,
        ),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([type, value]) => record(type, Buffer.from(value)));

  it('unknown records anywhere in the block change nothing but the header length', () => {
    fc.assert(
      fc.property(
        fc.array(unknownRecord, { maxLength: 4 }),
        fc.array(unknownRecord, { maxLength: 4 }),
        fc.option(identityString, { nil: undefined }),
        bodyArb,
        (before, after, id, body) => {
          const known = id === undefined ? [] : [record(EnvelopeRecord.identity, id)];
          const records = [...before, ...known, ...after];
          fc.pre(records.length > 0);
          const payload = extPayload(records, body);
          const decoded = expectEnvelope(decodeEnvelope(payload));
          expect(decoded.header).toStrictEqual(normalized({ identity: id }));
          expect(decoded.body.equals(body)).toBe(true);
          expect(envelopeHeaderLength(payload)).toBe(payload.length - body.length);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('decode never throws on mangled ext blocks and always agrees with envelopeHeaderLength', () => {
    // A valid header (often with identity) whose bytes after the fixed fields are randomly damaged.
    const mangled = fc
      .tuple(headerArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat({ max: 40 }))
      .map(([header, at, noise, cut]) => {
        const payload = encodeEnvelope({ ...header, identity: header.identity ?? 'x' }, 'body');
        const start = at % payload.length;
        Buffer.from(noise).copy(payload, start);
        return payload.subarray(0, Math.max(1, payload.length - cut));
      });
    fc.assert(
      fc.property(mangled, (payload) => {
        const decoded = decodeEnvelope(payload);
        const length = envelopeHeaderLength(payload);
        if (decoded.kind === 'envelope') expect(length).toBe(decoded.headerLength);
        else if (decoded.kind === 'malformed') expect(length).toBe(-1);
        else expect(length).toBe(0);
      }),
      { numRuns: 3_000 },
    );
  });
});
