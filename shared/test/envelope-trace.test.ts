import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  decodeEnvelope,
  EnvelopeFlag,
  EnvelopeRecord,
  encodeEnvelope,
  envelopeHeaderLength,
  envelopeTraceparent,
  framePayload,
} from '@redispatch/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytes,
  expectEnvelope,
  expectedHeaderLength,
  expectMalformed,
  normalized,
  traceparentArb,
  tracestateArb,
} from './helpers/envelope-cases.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const WIRE_FORMAT = new URL('../src/envelope/WIRE-FORMAT.md', import.meta.url);

function record(type: number, value: Buffer | string): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** An envelope with only the ext flag, holding `records`, then the body `body`. */
function extPayload(records: Buffer[]): Buffer {
  const block = Buffer.concat(records);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(block.length);
  return Buffer.concat([bytes(0xfe, 0x01, EnvelopeFlag.ext), length, block, Buffer.from('body')]);
}

const traceparent = (value: string) => record(EnvelopeRecord.traceparent, value);
const tracestate = (value: string) => record(EnvelopeRecord.tracestate, value);

describe('envelope trace context records (0x06 traceparent, 0x07 tracestate)', () => {
  it('matches the trace-context test vector documented in WIRE-FORMAT.md', () => {
    const payload = encodeEnvelope({ traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' }, 'hi');
    const documented = readFileSync(WIRE_FORMAT, 'utf8')
      .split('\n')
      .find((line) => line.startsWith('fe 01 40  00 4e '));
    expect(Buffer.from(documented?.replaceAll(' ', '') ?? '', 'hex')).toEqual(payload);
    expect(payload.length).toBe(85);
    const decoded = expectEnvelope(decodeEnvelope(payload));
    expect(decoded.header.traceparent).toBe(TRACEPARENT);
    expect(decoded.header.tracestate).toBe('congo=t61rcWkgMzE');
    expect(decoded.body.toString()).toBe('hi');
    expect(EnvelopeRecord.traceparent).toBe(0x06);
    expect(EnvelopeRecord.tracestate).toBe(0x07);
  });

  it('round-trips trace context beside identity and every flag field, in ascending record order', () => {
    const header = {
      id: 'msg-1',
      delayMs: 5,
      affinityKey: 'tenant-a',
      replyTo: 'relay:relay-1:3q1nq0CqYbn3aH7uB0J6-w',
      timestamp: 1_763_799_999_000,
      identity: 'user:42',
      traceparent: TRACEPARENT,
      tracestate: 'rojo=00f067aa0ba902b7 , t@sys=a b\t',
    };
    const payload = encodeEnvelope(header, Buffer.from([0xfe]));
    const decoded = expectEnvelope(decodeEnvelope(payload));
    expect(decoded.header).toStrictEqual(normalized(header));
    expect(decoded.headerLength).toBe(expectedHeaderLength(header));
    // identity (0x01) before traceparent (0x06) before tracestate (0x07).
    const types = [0x01, 0x06, 0x07].map((type) => payload.indexOf(Buffer.from([type, 0x00])));
    expect(types).toEqual([...types].sort((a, b) => a - b));
    expect(envelopeTraceparent(payload)).toBe(TRACEPARENT);
  });

  it('envelopeTraceparent reads the header only and gives undefined when there is no trace context', () => {
    expect(envelopeTraceparent(Buffer.from(`{"traceparent":"${TRACEPARENT}"}`))).toBeUndefined();
    expect(envelopeTraceparent(encodeEnvelope({ id: 'x' }, TRACEPARENT))).toBeUndefined();
    expect(envelopeTraceparent(encodeEnvelope({ identity: 'u' }, TRACEPARENT))).toBeUndefined();
    expect(envelopeTraceparent(extPayload([traceparent(TRACEPARENT.toUpperCase())]))).toBeUndefined();
    // A body that looks like an envelope with trace context is never read.
    const inner = encodeEnvelope({ traceparent: TRACEPARENT }, '');
    expect(envelopeTraceparent(encodeEnvelope({}, inner))).toBeUndefined();
    expect(envelopeTraceparent(Buffer.from(framePayload('b', { traceparent: TRACEPARENT })))).toBe(
      TRACEPARENT,
    );
  });

  it.each<[string, Buffer, RegExp]>([
    [
      'a 54-byte traceparent',
      extPayload([traceparent(TRACEPARENT.slice(0, 54))]),
      /^traceparent has length 54; version 00 is exactly 55 bytes \(ext record at offset 5\)/,
    ],
    ['version 01', extPayload([traceparent(`01${TRACEPARENT.slice(2)}`)]), /^traceparent version is not 00/],
    ['version ff', extPayload([traceparent(`ff${TRACEPARENT.slice(2)}`)]), /^traceparent version is not 00/],
    [
      'upper-case hex',
      extPayload([traceparent(TRACEPARENT.toUpperCase())]),
      /^traceparent version|^traceparent trace id is not 32 lower-case hex digits/,
    ],
    [
      'an upper-case trace id',
      extPayload([traceparent(`00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01`)]),
      /^traceparent trace id is not 32 lower-case hex digits/,
    ],
    [
      'an all-zero trace id',
      extPayload([traceparent(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`)]),
      /^traceparent trace id is all zeros/,
    ],
    [
      'an all-zero span id',
      extPayload([traceparent(`00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`)]),
      /^traceparent span id is all zeros/,
    ],
    [
      'a span id with a non-hex digit',
      extPayload([traceparent(`00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01`)]),
      /^traceparent span id is not 16 lower-case hex digits/,
    ],
    [
      'missing dashes',
      extPayload([traceparent(TRACEPARENT.replaceAll('-', '_'))]),
      /^traceparent fields are not separated by '-'/,
    ],
    [
      'bad flags',
      extPayload([traceparent(`${TRACEPARENT.slice(0, 53)}0x`)]),
      /^traceparent flags are not 2 lower-case hex digits/,
    ],
    [
      'a duplicate traceparent',
      extPayload([traceparent(TRACEPARENT), traceparent(TRACEPARENT)]),
      /^duplicate ext record traceparent \(type 0x06\) at offset 63/,
    ],
    [
      'a tracestate without traceparent',
      extPayload([tracestate('a=1')]),
      /^ext record tracestate \(type 0x07\) without a traceparent/,
    ],
    [
      'an empty tracestate',
      extPayload([traceparent(TRACEPARENT), tracestate('')]),
      /^tracestate has length 0; it must be 1..512 bytes/,
    ],
    [
      'a 513-byte tracestate',
      extPayload([traceparent(TRACEPARENT), tracestate(`a=${'v'.repeat(256)},b=${'v'.repeat(252)}`)]),
      /^tracestate has length 513/,
    ],
    [
      'a tracestate key in upper case',
      extPayload([traceparent(TRACEPARENT), tracestate('Rojo=1')]),
      /^tracestate member at byte 0 has no valid key followed by '='/,
    ],
    [
      'a tracestate member without =',
      extPayload([traceparent(TRACEPARENT), tracestate('a=1,rojo')]),
      /^tracestate member at byte 4 has no valid key/,
    ],
    [
      'a tracestate value with =',
      extPayload([traceparent(TRACEPARENT), tracestate('a=1=2')]),
      /^tracestate value byte 3 \(0x3d\) is not allowed/,
    ],
    [
      'a tracestate value with a control byte',
      extPayload([traceparent(TRACEPARENT), tracestate('a=x\u0001y')]),
      /^tracestate value byte 3 \(0x01\)/,
    ],
    [
      'a tracestate value that is only spaces',
      extPayload([traceparent(TRACEPARENT), tracestate('a=  ')]),
      /^tracestate value at byte 2 has length 0/,
    ],
    [
      '33 tracestate members',
      extPayload([
        traceparent(TRACEPARENT),
        tracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')),
      ]),
      /^tracestate has more than 32 members/,
    ],
    [
      'a tracestate of blanks and commas',
      extPayload([traceparent(TRACEPARENT), tracestate(' , ')]),
      /^tracestate has no key=value member/,
    ],
    [
      'a system id over 14 characters',
      extPayload([traceparent(TRACEPARENT), tracestate(`t@${'s'.repeat(15)}=1`)]),
      /^tracestate member at byte 0 has no valid key/,
    ],
  ])('reports %s as malformed with its reason', (_name, payload, reason) => {
    expectMalformed(payload, reason);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a short traceparent', { traceparent: '00-abc' }, /^envelope traceparent has length 6/],
    [
      'a non-ASCII traceparent',
      { traceparent: TRACEPARENT.replace('4b', 'é') },
      /^envelope traceparent is not ASCII/,
    ],
    [
      'an all-zero span id',
      { traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01` },
      /span id is all zeros/,
    ],
    ['a tracestate alone', { tracestate: 'a=1' }, /^envelope tracestate needs a traceparent/],
    [
      'a bad tracestate',
      { traceparent: TRACEPARENT, tracestate: 'a' },
      /^envelope tracestate member at byte 0/,
    ],
    ['a non-string traceparent', { traceparent: 7 }, /^envelope traceparent must be a string/],
  ])('refuses to encode %s', (_name, header, message) => {
    expect(() => encodeEnvelope(header, 'b')).toThrow(message);
  });

  it('every generated traceparent/tracestate round-trips and agrees with envelopeHeaderLength', () => {
    fc.assert(
      fc.property(traceparentArb, fc.option(tracestateArb, { nil: undefined }), (parent, state) => {
        const header = { traceparent: parent, tracestate: state };
        const payload = encodeEnvelope(header, 'body');
        const decoded = expectEnvelope(decodeEnvelope(payload));
        expect(decoded.header).toStrictEqual(normalized(header));
        expect(envelopeHeaderLength(payload)).toBe(expectedHeaderLength(header));
        expect(envelopeTraceparent(payload)).toBe(parent);
      }),
      { numRuns: 1_000 },
    );
  });

  it('any single-byte change inside a traceparent is either another valid traceparent or malformed', () => {
    fc.assert(
      fc.property(
        traceparentArb,
        fc.nat({ max: 54 }),
        fc.integer({ min: 0, max: 255 }),
        (parent, at, byte) => {
          const payload = extPayload([traceparent(parent)]);
          payload[8 + at] = byte;
          const changed = payload.toString('latin1', 8, 63);
          const valid = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/.test(changed);
          const decoded = decodeEnvelope(payload);
          expect(decoded.kind).toBe(valid ? 'envelope' : 'malformed');
          expect(envelopeHeaderLength(payload)).toBe(valid ? payload.length - 4 : -1);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  it.skipIf(!python)(
    'the Python publisher in WIRE-FORMAT.md writes the documented vectors byte for byte',
    () => {
      const doc = readFileSync(WIRE_FORMAT, 'utf8');
      const snippet =
        doc.split('## Python publisher (redis-py)')[1]?.split('```python')[1]?.split('```')[0] ?? '';
      // The function alone: no Redis client, no publish.
      const fn = snippet
        .replace('import struct, time, redis', 'import struct, time')
        .split(/^(?:\w+ = )?redis\.Redis\(\)/m)[0];
      const program = `${fn}
import sys
sys.stdout.write(envelope(b"hi", traceparent="${TRACEPARENT}", tracestate="congo=t61rcWkgMzE").hex() + "\\n")
sys.stdout.write(envelope(b"hi", id="a1", ts=1700000000000, identity="user:42").hex() + "\\n")
sys.stdout.write(envelope(b"hi", id="a1", identity="u", traceparent="${TRACEPARENT}").hex() + "\\n")
`;
      const run = spawnSync('python3', ['-c', program], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.stdout.trim().split('\n')).toEqual([
        encodeEnvelope({ traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' }, 'hi').toString('hex'),
        encodeEnvelope({ id: 'a1', timestamp: 1_700_000_000_000, identity: 'user:42' }, 'hi').toString('hex'),
        encodeEnvelope({ id: 'a1', identity: 'u', traceparent: TRACEPARENT }, 'hi').toString('hex'),
      ]);
    },
  );
});
