import {
  decodeEnvelope,
  dedupeId,
  EnvelopeRecord,
  encodeEnvelope,
  framePayload,
  MAX_ENVELOPE_NAMESPACE_BYTES,
} from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { bytes, expectEnvelope, expectMalformed } from './helpers/envelope-cases.js';

// Issue 22 item 7: record 0x08 `namespace` scopes publisher ids (the leader's dedupe key).
const record = (type: number, value: Buffer | string) => {
  const v = Buffer.from(value);
  return Buffer.concat([bytes(type, v.length >> 8, v.length & 0xff), v]);
};
const extPayload = (records: Buffer[], body = '') => {
  const block = Buffer.concat(records);
  return Buffer.concat([
    bytes(0xfe, 0x01, 0x40, block.length >> 8, block.length & 0xff),
    block,
    Buffer.from(body),
  ]);
};
const namespace = (value: Buffer | string) => record(EnvelopeRecord.namespace, value);

describe('envelope record 0x08 namespace', () => {
  it('round-trips at 1 byte, at its 64-byte limit and in multi-byte UTF-8, after every other record', () => {
    for (const value of ['a', 'n'.repeat(MAX_ENVELOPE_NAMESPACE_BYTES), 'tenant-ü-数']) {
      const payload = encodeEnvelope(
        { id: 'order-42', identity: 'user:1', priority: 3, namespace: value },
        'hi',
      );
      const decoded = expectEnvelope(decodeEnvelope(payload));
      expect(decoded.header.namespace).toBe(value);
      expect(decoded.header.id).toBe('order-42');
      expect(decoded.body.toString()).toBe('hi');
    }
    const payload = encodeEnvelope({ namespace: 'ns', priority: 1 }, '');
    expect(payload.subarray(-5)).toEqual(bytes(0x08, 0x00, 0x02, 0x6e, 0x73)); // ascending type order
  });

  it.each<[string, Buffer, RegExp]>([
    ['empty', extPayload([namespace('')]), /^namespace has length 0 at offset 6; it must be 1..64 bytes/],
    [
      '65 bytes',
      extPayload([namespace('n'.repeat(65))]),
      /^namespace has length 65 at offset 6; it must be 1..64 bytes/,
    ],
    ['not UTF-8', extPayload([namespace(bytes(0x61, 0xff))]), /^namespace \(bytes 8..9\) is not valid UTF-8/],
    [
      'twice',
      extPayload([namespace('a'), namespace('b')]),
      /^duplicate ext record namespace \(type 0x08\) at offset 9/,
    ],
  ])('reports a namespace %s as malformed', (_name, payload, reason) => {
    expectMalformed(payload, reason);
  });

  it('refuses to encode an empty or over-long namespace', () => {
    expect(() => encodeEnvelope({ namespace: '' }, 'x')).toThrow(/namespace is empty/);
    expect(() => encodeEnvelope({ namespace: 'n'.repeat(65) }, 'x')).toThrow(
      /namespace is 65 UTF-8 bytes; the limit is 64/,
    );
  });

  it('gives the leader a dedupe id per namespace that no other namespace or global id can equal', () => {
    expect(dedupeId({ id: undefined, namespace: 'a' })).toBe('');
    expect(dedupeId({ id: 'order-42', namespace: undefined })).toBe('order-42');
    const a = dedupeId({ id: 'order-42', namespace: 'a' });
    expect(a).toEqual(Buffer.from('\xffa\xfforder-42', 'latin1'));
    expect(a).not.toEqual(dedupeId({ id: 'order-42', namespace: 'b' }));
    // Where the parts split is part of the key: ("a", "b:c") and ("a:b", "c") differ.
    expect(dedupeId({ id: 'b:c', namespace: 'a' })).not.toEqual(dedupeId({ id: 'c', namespace: 'a:b' }));
  });

  it("puts a Publisher's namespace on every message that does not name its own", () => {
    const framed = framePayload('body', { id: 'x' }, false, 'tenant-a');
    expect(expectEnvelope(decodeEnvelope(Buffer.from(framed))).header.namespace).toBe('tenant-a');
    const own = framePayload('body', { id: 'x', namespace: 'mine' }, false, 'tenant-a');
    expect(expectEnvelope(decodeEnvelope(Buffer.from(own))).header.namespace).toBe('mine');
  });
});
