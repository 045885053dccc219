import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  decodeEnvelope,
  EnvelopeFlag,
  type EnvelopeHeader,
  EnvelopeRecord,
  encodeEnvelope,
  envelopeHeaderLength,
} from '@redispatch/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytes, expectEnvelope, expectMalformed, normalized } from './helpers/envelope-cases.js';

const WIRE_FORMAT = readFileSync(new URL('../src/envelope/WIRE-FORMAT.md', import.meta.url), 'utf8');

interface Vector {
  fields: EnvelopeHeader;
  body: string;
  hex: string;
}

/** The test-vector table of WIRE-FORMAT.md: | `{fields}` | `"body"` | `hex` |. */
function documentedVectors(): Vector[] {
  const vectors: Vector[] = [];
  for (const line of WIRE_FORMAT.split('\n')) {
    const row = /^\| `(\{.*\})` \| `(".*")` \| `([0-9a-f]+)` \|$/.exec(line);
    if (row) vectors.push({ fields: JSON.parse(row[1]!), body: JSON.parse(row[2]!), hex: row[3]! });
  }
  return vectors;
}

/** The fenced block that follows `heading` in WIRE-FORMAT.md. */
function snippet(heading: string, language: string): string {
  const from = WIRE_FORMAT.indexOf(heading);
  const open = WIRE_FORMAT.indexOf(`\`\`\`${language}\n`, from);
  const close = WIRE_FORMAT.indexOf('\n```', open + 1);
  expect(from).toBeGreaterThanOrEqual(0);
  return WIRE_FORMAT.slice(open + language.length + 4, close);
}

/** camelCase header fields → the Python snippet's keyword arguments. */
const PYTHON_NAMES: Record<string, string> = {
  id: 'id',
  delayMs: 'delay_ms',
  dueAt: 'due_at',
  affinityKey: 'affinity',
  replyTo: 'reply_to',
  timestamp: 'ts',
  identity: 'identity',
  attempts: 'attempts',
  expiresAt: 'expires_at',
  timeoutMs: 'timeout_ms',
  priority: 'priority',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  namespace: 'namespace',
};

/**
 * Runs the Python publisher exactly as WIRE-FORMAT.md prints it, with `redis` replaced by a module
 * that records what would be published; then encodes every vector with its `envelope` function.
 */
function runPython(vectors: Vector[]): { encoded: string[]; published: Buffer[] } {
  const driver = `
import json, sys, types
published = []
class _Redis:
    def publish(self, channel, payload): published.append(payload)
sys.modules["redis"] = types.SimpleNamespace(Redis=_Redis)
exec(compile(sys.stdin.read(), "WIRE-FORMAT.md", "exec"))
names = json.loads(sys.argv[1])
for vector in json.loads(sys.argv[2]):
    kwargs = {names[k]: v for k, v in vector["fields"].items()}
    print(envelope(vector["body"].encode(), **kwargs).hex())
for payload in published: print("published", payload.hex())
`;
  const out = execFileSync('python3', ['-c', driver, JSON.stringify(PYTHON_NAMES), JSON.stringify(vectors)], {
    input: snippet('## Python publisher', 'python'),
    encoding: 'utf8',
  });
  const lines = out.trim().split('\n');
  return {
    encoded: lines.filter((l) => !l.startsWith('published ')),
    published: lines.filter((l) => l.startsWith('published ')).map((l) => Buffer.from(l.slice(10), 'hex')),
  };
}

describe('WIRE-FORMAT.md test vectors', () => {
  const vectors = documentedVectors();

  it('documents vectors for every record type and the v1 fields', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(7);
    const named = new Set(vectors.flatMap((v) => Object.keys(v.fields)));
    for (const field of [
      'id',
      'delayMs',
      'timestamp',
      'identity',
      'attempts',
      'expiresAt',
      'timeoutMs',
      'priority',
    ])
      expect(named).toContain(field);
  });

  it('every vector round-trips in the TypeScript encoder and decoder', () => {
    for (const { fields, body, hex } of vectors) {
      expect(encodeEnvelope(fields, body).toString('hex'), JSON.stringify(fields)).toBe(hex);
      const payload = Buffer.from(hex, 'hex');
      const decoded = expectEnvelope(decodeEnvelope(payload));
      expect(decoded.header).toStrictEqual(normalized(fields));
      expect(decoded.body.toString('utf8')).toBe(body);
      expect(envelopeHeaderLength(payload)).toBe(payload.length - Buffer.byteLength(body));
    }
  });

  it('the Python publisher printed in WIRE-FORMAT.md writes every vector byte for byte', () => {
    const { encoded, published } = runPython(vectors);
    expect(encoded).toEqual(vectors.map((v) => v.hex));
    // Its own examples publish envelopes the decoder reads back with the options they describe.
    expect(published).toHaveLength(2);
    const withOptions = expectEnvelope(decodeEnvelope(published[1]!)).header;
    expect(withOptions).toMatchObject({ id: 'job-2', attempts: 3, timeoutMs: 5_000, priority: 7 });
    expect(withOptions.expiresAt).toBeGreaterThan(Date.now());
  });

  it('the shell publisher with options writes the envelope its comment describes', () => {
    const line = snippet('## Shell publisher', 'sh')
      .split('\n')
      .find((l) => l.startsWith("printf '\\376\\001\\101"));
    const command = line?.replace(/\s*\|\s*redis-cli.*$/, '') ?? 'false';
    const payload = execFileSync('sh', ['-c', command]);
    const decoded = expectEnvelope(decodeEnvelope(payload));
    expect(decoded.header).toStrictEqual(normalized({ id: 'job-3', attempts: 3, priority: 9 }));
    expect(decoded.body.toString()).toBe('{"job":3}');
  });
});

/** An envelope with only the ext flag around `records`. */
function optionPayload(...records: Buffer[]): Buffer {
  const block = Buffer.concat(records);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(block.length);
  return Buffer.concat([bytes(0xfe, 0x01, EnvelopeFlag.ext), length, block, Buffer.from('b')]);
}
const record = (type: number, ...value: number[]) => bytes(type, 0, value.length, ...value);

describe('per-message option records', () => {
  it.each<[string, Buffer, RegExp]>([
    ['attempts 0', optionPayload(record(0x02, 0)), /^attempts is 0 at offset 8; it must be 1..255/],
    ['priority 12', optionPayload(record(0x05, 12)), /^priority 12 at offset 8 is out of range 0..9/],
    ['timeoutMs 0', optionPayload(record(0x04, 0, 0, 0, 0)), /^timeoutMs is 0 at offset 8/],
    [
      'attempts of length 2',
      optionPayload(record(0x02, 1, 2)),
      /^attempts has length 2 at offset 6; it must be 1 bytes/,
    ],
    [
      'expiresAt of length 4',
      optionPayload(record(0x03, 0, 0, 0, 1)),
      /^expiresAt has length 4 .* must be 8 bytes/,
    ],
    [
      'expiresAt over 2^53-1',
      optionPayload(record(0x03, 0x00, 0x20, 0, 0, 0, 0, 0, 0)),
      /^expiresAt 9007199254740992 at offset 8 exceeds 2\^53-1/,
    ],
    [
      'a duplicate priority',
      optionPayload(record(0x05, 1), record(0x05, 2)),
      /^duplicate ext record priority \(type 0x05\) at offset 9/,
    ],
  ])('reports %s as malformed with its reason', (_name, payload, reason) => {
    expectMalformed(payload, reason);
  });

  it.each<[string, EnvelopeHeader, RegExp]>([
    ['attempts 0', { attempts: 0 }, /attempts must be an integer from 1 to 255, got 0/],
    ['attempts 256', { attempts: 256 }, /attempts must be an integer from 1 to 255/],
    ['priority 10', { priority: 10 }, /priority must be an integer from 0 to 9, got 10/],
    ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs must be an integer from 1/],
    ['expiresAt 1.5', { expiresAt: 1.5 }, /expiresAt must be an integer/],
  ])('refuses to encode %s', (_name, header, message) => {
    expect(() => encodeEnvelope(header, 'b')).toThrow(message);
  });

  it('a decoder that knows only identity would skip them: they sit in the block like unknown records', () => {
    // Record types 0x02..0x05 are ordinary type-length-value records: the block length covers them.
    const payload = encodeEnvelope({ identity: 'u', attempts: 2, priority: 3 }, 'body');
    const blockLength = payload.readUInt16BE(3);
    expect(blockLength).toBe(3 + 1 + 3 + 1 + 3 + 1);
    expect(payload[5]).toBe(EnvelopeRecord.identity);
    // Header: marker, version, flags, u16 block length, then the block; the body follows it.
    expect(payload.subarray(5 + blockLength).toString()).toBe('body');
  });

  it('random option records never make decode throw, and always agree with envelopeHeaderLength', () => {
    const anyOption = fc
      .tuple(fc.integer({ min: 2, max: 5 }), fc.uint8Array({ maxLength: 10 }))
      .map(([type, value]) => Buffer.concat([bytes(type, 0, value.length), Buffer.from(value)]));
    fc.assert(
      fc.property(fc.array(anyOption, { minLength: 1, maxLength: 5 }), (records) => {
        const payload = optionPayload(...records);
        const decoded = decodeEnvelope(payload);
        const length = envelopeHeaderLength(payload);
        if (decoded.kind === 'envelope') {
          expect(length).toBe(decoded.headerLength);
          const reencoded = encodeEnvelope(decoded.header, decoded.body);
          expect(expectEnvelope(decodeEnvelope(reencoded)).header).toStrictEqual(decoded.header);
        } else expect(length).toBe(-1);
      }),
      { numRuns: 3_000 },
    );
  });
});
