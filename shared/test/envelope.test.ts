import {
  decodeEnvelope,
  ENVELOPE_MARKER,
  type EnvelopeHeader,
  encodeEnvelope,
  envelopeHeaderLength,
  framePayload,
  MAX_ENVELOPE_DELAY_MS,
  MAX_ENVELOPE_EPOCH_MS,
  Publisher,
} from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyArb,
  bytes,
  expectEnvelope,
  expectedHeaderLength,
  expectMalformed,
  FIELDS,
  headerArb,
  normalized,
  SAMPLE,
} from './helpers/envelope-cases.js';

// Shared cases and arbitraries (which generate `identity` too) live in helpers/envelope-cases.ts;
// the extension block's own cases are in envelope-ext.test.ts.

// ---------------------------------------------------------------------------------------------------

describe('envelope encoding', () => {
  it('matches the golden bytes documented in WIRE-FORMAT.md', () => {
    const payload = encodeEnvelope({ id: 'a1', delayMs: 1_000, timestamp: 1_700_000_000_000 }, 'hi');
    expect(payload.toString('hex')).toBe('fe0123' + '026131' + '000003e8' + '0000018bcfe56800' + '6869');
    expect(encodeEnvelope({}, 'x')).toEqual(bytes(0xfe, 0x01, 0x00, 0x78));
    expect(encodeEnvelope({ dueAt: 1 }, '').toString('hex')).toBe('fe01040000000000000001');
  });

  const combinations = Array.from({ length: 64 }, (_, mask) => mask);
  it.each(combinations)('round-trips flag combination %i', (mask) => {
    const header: EnvelopeHeader = {};
    FIELDS.forEach((field, bit) => {
      if (mask & (1 << bit)) Object.assign(header, { [field]: SAMPLE[field] });
    });
    const body = Buffer.from(`{"combination":${mask}}`);
    if (header.delayMs !== undefined && header.dueAt !== undefined) {
      expect(() => encodeEnvelope(header, body)).toThrow(/mutually exclusive/);
      return;
    }
    const payload = encodeEnvelope(header, body);
    expect(payload[0]).toBe(ENVELOPE_MARKER);
    expect(payload[2]).toBe(mask);
    const decoded = expectEnvelope(decodeEnvelope(payload));
    expect(decoded.version).toBe(1);
    expect(decoded.header).toStrictEqual(normalized(header));
    expect(decoded.body).toEqual(body);
    expect(decoded.headerLength).toBe(expectedHeaderLength(header));
    expect(envelopeHeaderLength(payload)).toBe(decoded.headerLength);
    // Canonical: re-encoding the decoded header gives the same bytes.
    expect(encodeEnvelope(decoded.header, decoded.body)).toEqual(payload);
    // A string body and a Buffer body encode identically.
    expect(encodeEnvelope(header, body.toString())).toEqual(payload);
  });

  it('accepts the boundaries: 255-byte strings, u32 max delay, 2^53-1 epochs, zero values', () => {
    const header = {
      id: `${'é'.repeat(127)}x`, // 255 bytes
      delayMs: MAX_ENVELOPE_DELAY_MS,
      affinityKey: 'k'.repeat(255),
      replyTo: `${'😀'.repeat(63)}abc`, // 255 bytes
      timestamp: MAX_ENVELOPE_EPOCH_MS,
    };
    const decoded = expectEnvelope(decodeEnvelope(encodeEnvelope(header, '')));
    expect(decoded.header).toStrictEqual(normalized(header));
    expect(decoded.body.length).toBe(0);
    const zero = expectEnvelope(decodeEnvelope(encodeEnvelope({ delayMs: 0, timestamp: 0 }, 'b')));
    expect(zero.header).toStrictEqual(normalized({ delayMs: 0, timestamp: 0 }));
    const due = expectEnvelope(decodeEnvelope(encodeEnvelope({ dueAt: MAX_ENVELOPE_EPOCH_MS }, 'b')));
    expect(due.header.dueAt).toBe(MAX_ENVELOPE_EPOCH_MS);
  });

  it.each<[string, EnvelopeHeader, RegExp]>([
    ['empty id', { id: '' }, /id is empty/],
    [
      '256-byte affinity key',
      { affinityKey: 'k'.repeat(256) },
      /affinityKey is 256 UTF-8 bytes; the limit is 255/,
    ],
    ['multi-byte overflow', { replyTo: 'é'.repeat(128) }, /replyTo is 256 UTF-8 bytes/],
    ['lone surrogate', { id: 'a\ud800b' }, /lone surrogate/],
    ['non-string', { id: 42 as unknown as string }, /id must be a string/],
    ['fractional delay', { delayMs: 1.5 }, /delayMs must be an integer/],
    ['negative delay', { delayMs: -1 }, /delayMs must be an integer/],
    ['delay beyond u32', { delayMs: 2 ** 32 }, /delayMs must be an integer from 0 to 4294967295/],
    ['dueAt beyond 2^53-1', { dueAt: 2 ** 53 }, /dueAt must be an integer/],
    ['NaN timestamp', { timestamp: Number.NaN }, /timestamp must be an integer/],
    ['delay and due', { delayMs: 1, dueAt: 2 }, /mutually exclusive/],
  ])('refuses to encode %s', (_name, header, message) => {
    expect(() => encodeEnvelope(header, 'body')).toThrow(message);
  });
});

describe('envelope decoding', () => {
  it('treats anything not starting with 0xFE as a plain payload, returned as the same Buffer', () => {
    for (const text of ['', '{"a":1}', 'hello', '\ufeffBOM text', '[]', '\u00fe is C3 BE in UTF-8']) {
      const payload = Buffer.from(text);
      const decoded = decodeEnvelope(payload);
      expect(decoded).toEqual({ kind: 'plain', body: payload });
      if (decoded.kind === 'plain') expect(decoded.body).toBe(payload);
      expect(envelopeHeaderLength(payload)).toBe(0);
    }
  });

  it('decodes the empty envelope', () => {
    const decoded = expectEnvelope(decodeEnvelope(bytes(0xfe, 0x01, 0x00)));
    expect(decoded.header).toStrictEqual(normalized({}));
    expect(decoded.body.length).toBe(0);
    expect(decoded.headerLength).toBe(3);
  });

  it.each<[string, Buffer, RegExp]>([
    ['marker alone', bytes(0xfe), /^truncated: payload is the 0xFE envelope marker alone/],
    ['no flags byte', bytes(0xfe, 0x01), /^truncated: flags byte missing at offset 2/],
    ['version 0', bytes(0xfe, 0x00, 0x00), /^unsupported envelope version 0 .*empty envelope \(FE 01 00\)/],
    ['version 2', bytes(0xfe, 0x02, 0x00, 0x61), /^unsupported envelope version 2/],
    ['UTF-16BE BOM', Buffer.from('\ufeffhi', 'utf16le').swap16(), /^unsupported envelope version 255/],
    // Bit 6 announces the extension block (envelope-ext.test.ts); bit 7 is still unknown.
    ['flag bit 6 without its block', bytes(0xfe, 0x01, 0x40), /^truncated: ext block length needs 2 bytes/],
    ['flag bits 6+7', bytes(0xfe, 0x01, 0xc1, 0x01, 0x61), /^unknown flag bits 0x80 set \(flags byte 0xc1\)/],
    [
      'delay and due',
      bytes(0xfe, 0x01, 0x06, ...new Array(12).fill(0)),
      /^both delayMs .* and dueAt .* mutually/,
    ],
    ['id length missing', bytes(0xfe, 0x01, 0x01), /^truncated: id length byte missing at offset 3/],
    ['id length zero', bytes(0xfe, 0x01, 0x01, 0x00, 0x61), /^id has length 0 at offset 3/],
    [
      'id too long',
      bytes(0xfe, 0x01, 0x01, 0x05, 0x61, 0x62),
      /^truncated: id declares 5 bytes at offset 4 but only 2/,
    ],
    [
      'bad UTF-8',
      bytes(0xfe, 0x01, 0x08, 0x02, 0xc3, 0x28),
      /^affinityKey \(bytes 4\.\.5\) is not valid UTF-8/,
    ],
    ['encoded surrogate', bytes(0xfe, 0x01, 0x10, 0x03, 0xed, 0xa0, 0x80), /^replyTo .* not valid UTF-8/],
    ['overlong encoding', bytes(0xfe, 0x01, 0x01, 0x02, 0xc0, 0xaf), /^id .* not valid UTF-8/],
    [
      'short delay',
      bytes(0xfe, 0x01, 0x02, 0x00, 0x00, 0x01),
      /^truncated: delayMs needs 4 bytes at offset 3 but only 3/,
    ],
    ['short dueAt', bytes(0xfe, 0x01, 0x04, 0x00), /^truncated: dueAt needs 8 bytes/],
    [
      'dueAt 2^53',
      bytes(0xfe, 0x01, 0x04, 0x00, 0x20, 0, 0, 0, 0, 0, 0),
      /^dueAt 9007199254740992 at offset 3 exceeds 2\^53-1/,
    ],
    [
      'timestamp 2^64-1',
      bytes(0xfe, 0x01, 0x20, ...new Array(8).fill(0xff)),
      /^timestamp 18446744073709551615 at offset 3 exceeds/,
    ],
    [
      'timestamp cut after id',
      bytes(0xfe, 0x01, 0x21, 0x01, 0x61, 0, 0, 0),
      /^truncated: timestamp needs 8 bytes at offset 5 but only 3/,
    ],
  ])('reports %s as malformed with its reason', (_name, payload, reason) => {
    expectMalformed(payload, reason);
  });

  it('returns the body as a view into the payload, not a copy', () => {
    const payload = encodeEnvelope({ id: 'x' }, 'body');
    const decoded = expectEnvelope(decodeEnvelope(payload));
    expect(decoded.body.buffer).toBe(payload.buffer);
    expect(decoded.body.byteOffset).toBe(payload.byteOffset + decoded.headerLength);
  });
});

describe('envelope properties', () => {
  it('(a) decode never throws on arbitrary bytes and always agrees with envelopeHeaderLength', () => {
    const anyBytes = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
    // Mostly marker + version 1, so the field parsers are exercised, not just the first byte.
    const nearlyEnvelopes = fc
      .tuple(fc.constantFrom(0, 1, 1, 1, 2, 255), fc.uint8Array({ maxLength: 64 }))
      .map(([version, rest]) => Buffer.concat([bytes(0xfe, version), rest]));
    fc.assert(
      fc.property(fc.oneof(anyBytes, nearlyEnvelopes), (payload) => {
        const decoded = decodeEnvelope(payload);
        const length = envelopeHeaderLength(payload);
        if (decoded.kind === 'plain') expect(length).toBe(0);
        else if (decoded.kind === 'malformed') {
          expect(length).toBe(-1);
          expect(decoded.reason.length).toBeGreaterThan(0);
        } else {
          expect(length).toBe(decoded.headerLength);
          // Anything accepted is canonical (re-encodes to the same bytes) unless it carries extension
          // records of unknown types, which decoders skip and the encoder therefore drops.
          const again = encodeEnvelope(decoded.header, decoded.body);
          if (again.length === payload.length) expect(again).toEqual(payload);
          else expect(expectEnvelope(decodeEnvelope(again)).header).toStrictEqual(decoded.header);
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('(b) every header round-trips exactly', () => {
    fc.assert(
      fc.property(headerArb, bodyArb, (header, body) => {
        const payload = encodeEnvelope(header, body);
        const decoded = expectEnvelope(decodeEnvelope(payload));
        expect(decoded.header).toStrictEqual(normalized(header));
        expect(decoded.headerLength).toBe(expectedHeaderLength(header));
        expect(decoded.body.equals(body)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('(c) every truncation inside the header is malformed with a reason', () => {
    fc.assert(
      fc.property(headerArb, bodyArb, (header, body) => {
        const payload = encodeEnvelope(header, body);
        const headerLength = expectedHeaderLength(header);
        expect(decodeEnvelope(payload.subarray(0, 0)).kind).toBe('plain'); // nothing left: empty plain payload
        for (let cut = 1; cut < headerLength; cut++) {
          const decoded = decodeEnvelope(payload.subarray(0, cut));
          expect(decoded.kind, `cut at ${cut} of ${headerLength}`).toBe('malformed');
          if (decoded.kind === 'malformed') expect(decoded.reason).toMatch(/^truncated: /);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('(d) bodies are binary-safe: byte-exact through encode/decode and through framePayload', () => {
    const binaryBody = fc
      .tuple(fc.boolean(), fc.uint8Array({ maxLength: 300 }))
      .map(([marker, b]) => (marker ? Buffer.concat([bytes(ENVELOPE_MARKER), b]) : Buffer.from(b)));
    fc.assert(
      fc.property(fc.option(headerArb, { nil: undefined }), binaryBody, (header, body) => {
        const payload = header === undefined ? framePayload(body) : encodeEnvelope(header, body);
        const decoded = decodeEnvelope(Buffer.from(payload));
        expect(decoded.kind).not.toBe('malformed');
        if (decoded.kind !== 'malformed') expect(decoded.body.equals(body)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('framePayload', () => {
  it('leaves headerless strings and non-marker buffers as they are', () => {
    expect(framePayload('{"a":1}')).toBe('{"a":1}');
    const buffer = Buffer.from([0x00, 0xfe]);
    expect(framePayload(buffer)).toBe(buffer);
    expect(framePayload(Buffer.alloc(0))).toEqual(Buffer.alloc(0));
    const view = new Uint8Array([1, 2, 3]);
    expect(framePayload(view)).toEqual(Buffer.from([1, 2, 3]));
  });

  it('wraps a headerless body starting with 0xFE in the empty envelope', () => {
    expect(framePayload(bytes(0xfe, 0x01, 0x00))).toEqual(bytes(0xfe, 0x01, 0x00, 0xfe, 0x01, 0x00));
  });

  it('stamps the time when asked, and keeps an explicit timestamp', () => {
    const before = Date.now();
    const stamped = expectEnvelope(decodeEnvelope(Buffer.from(framePayload('b', { stampTime: true }))));
    expect(stamped.header.timestamp).toBeGreaterThanOrEqual(before);
    expect(stamped.header.timestamp).toBeLessThanOrEqual(Date.now());
    const defaulted = expectEnvelope(decodeEnvelope(Buffer.from(framePayload('b', {}, true))));
    expect(defaulted.header.timestamp).toBeGreaterThanOrEqual(before);
    expect(framePayload('b', { stampTime: false }, true)).toBe('b');
    const explicit = expectEnvelope(
      decodeEnvelope(Buffer.from(framePayload('b', { timestamp: 5, stampTime: true }))),
    );
    expect(explicit.header.timestamp).toBe(5);
  });
});

describe('Publisher against a real Redis', () => {
  let server: RedisHandle;
  let publisherConnection: Redis;
  let subscriber: Redis;
  const channel = 'envelope-test';
  const received: Buffer[] = [];
  let wake: (() => void) | undefined;

  async function next(count: number): Promise<Buffer[]> {
    const deadline = Date.now() + 5_000;
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${received.length}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return received.splice(0, count);
  }

  beforeAll(async () => {
    server = await startRedis();
    publisherConnection = new Redis(server.url, { lazyConnect: true });
    subscriber = new Redis(server.url, { lazyConnect: true });
    await Promise.all([publisherConnection.connect(), subscriber.connect()]);
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      received.push(message);
      wake?.();
    });
    await subscriber.subscribe(channel);
  });
  afterAll(async () => {
    subscriber?.disconnect();
    publisherConnection?.disconnect();
    await server?.stop();
  });

  it('publishes plain bodies as-is and enveloped bodies with their header', async () => {
    const publisher = new Publisher({ redis: publisherConnection, channel });
    expect(await publisher.publish('{"plain":true}')).toBe(1);
    const [plain] = await next(1);
    expect(plain?.toString()).toBe('{"plain":true}');
    expect(decodeEnvelope(plain!).kind).toBe('plain');

    const binary = bytes(0xfe, 0x02, 0xff, 0x00);
    expect(await publisher.publish(binary)).toBe(1);
    const [wrapped] = await next(1);
    expect(wrapped).toEqual(bytes(0xfe, 0x01, 0x00, 0xfe, 0x02, 0xff, 0x00));
    expect(expectEnvelope(decodeEnvelope(wrapped!)).body).toEqual(binary);

    const before = Date.now();
    const options = {
      id: 'job-7',
      delayMs: 250,
      affinityKey: 'tenant-a',
      replyTo: 'replies:1',
      stampTime: true,
    };
    expect(await publisher.publish(Buffer.from('payload'), options)).toBe(1);
    const [enveloped] = await next(1);
    const decoded = expectEnvelope(decodeEnvelope(enveloped!));
    expect(decoded.header).toMatchObject({
      id: 'job-7',
      delayMs: 250,
      affinityKey: 'tenant-a',
      replyTo: 'replies:1',
    });
    expect(decoded.header.timestamp).toBeGreaterThanOrEqual(before);
    expect(decoded.body.toString()).toBe('payload');
  });

  it('publishes a batch in one pipeline, in order, and refuses an invalid batch before sending', async () => {
    const publisher = new Publisher({ redis: publisherConnection, channel, stampTime: true });
    const counts = await publisher.publishBatch([
      { body: 'first', options: { stampTime: false } },
      { body: 'second', options: { dueAt: 1_900_000_000_000 } },
      { body: bytes(0xfe), options: { id: 'third' } },
    ]);
    expect(counts).toEqual([1, 1, 1]);
    const [first, second, third] = await next(3);
    expect(first?.toString()).toBe('first');
    const secondDecoded = expectEnvelope(decodeEnvelope(second!));
    expect(secondDecoded.header.dueAt).toBe(1_900_000_000_000);
    expect(secondDecoded.header.timestamp).toBeTypeOf('number');
    const thirdDecoded = expectEnvelope(decodeEnvelope(third!));
    expect(thirdDecoded.header.id).toBe('third');
    expect(thirdDecoded.body).toEqual(bytes(0xfe));

    expect(await publisher.publishBatch([])).toEqual([]);
    await expect(
      publisher.publishBatch([{ body: 'never sent' }, { body: 'bad', options: { delayMs: -5 } }]),
    ).rejects.toThrow(RangeError);
    await publisher.publish('sentinel', { stampTime: false });
    const [afterRefusal] = await next(1);
    expect(afterRefusal?.toString()).toBe('sentinel');
  });
});
