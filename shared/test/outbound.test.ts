import {
  decodeDeadOutboundEntry,
  decodeOutboundEntry,
  encodeOutboundEntry,
  isSessionId,
  MalformedOutboundEntryError,
  newSessionId,
  outboundRoute,
  parseReplyAddress,
  relayAddress,
  replyBytes,
} from '@redispatch/shared';
import { describe, expect, it } from 'vitest';

describe('reply addresses', () => {
  it('parses relay addresses whose relay id contains colons', () => {
    const session = newSessionId();
    expect(isSessionId(session)).toBe(true);
    const address = parseReplyAddress(relayAddress('eu:relay-1', session));
    expect(address).toEqual({ kind: 'relay', relayId: 'eu:relay-1', sessionId: session });
    expect(outboundRoute(address ?? { kind: 'http', url: '' })).toBe('relay:eu:relay-1');
  });

  it('parses http(s) URLs and leaves every other address to the application', () => {
    expect(parseReplyAddress('https://example.test/hook?a=1')).toEqual({
      kind: 'http',
      url: 'https://example.test/hook?a=1',
    });
    for (const other of [
      undefined,
      'relay-1/s1',
      'amqp://x',
      'relay::AAAAAAAAAAAAAAAAAAAAAA',
      'relay:r1:short',
      'http://',
    ])
      expect(parseReplyAddress(other), String(other)).toBeUndefined();
  });

  it('makes distinct, unguessable session ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSessionId()));
    expect(ids.size).toBe(1000);
  });
});

describe('outbound entries', () => {
  it('round-trips binary payloads byte-exact', () => {
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const raw = encodeOutboundEntry(
      { messageId: '42', replyTo: 'relay:r:AAAAAAAAAAAAAAAAAAAAAA', payload, text: false },
      1700000000000,
    );
    expect(raw.subarray(0, 14).toString()).toBe('1700000000000:');
    const entry = decodeOutboundEntry(raw);
    expect(entry).toMatchObject({ enqueuedAt: 1700000000000, messageId: '42', text: false });
    expect(entry.payload.equals(payload)).toBe(true);
  });

  it('rejects bytes that are not an entry', () => {
    for (const bad of ['', 'x:1', '12:', '12:\u0002\u0000\u0001a\u0001b'])
      expect(() => decodeOutboundEntry(Buffer.from(bad, 'latin1')), bad).toThrow(MalformedOutboundEntryError);
  });

  it('reads dead letters with their reason, keeping undecodable entries as raw bytes', () => {
    const entry = encodeOutboundEntry(
      { messageId: '1', replyTo: 'http://h/x', payload: Buffer.from('p'), text: true },
      5,
    );
    const dead = decodeDeadOutboundEntry(Buffer.concat([Buffer.from('9:8:overflow'), entry]));
    expect(dead).toMatchObject({ deadAt: 9, reason: 'overflow' });
    expect(dead.entry?.payload.toString()).toBe('p');
    const junk = decodeDeadOutboundEntry(Buffer.from('9:3:badjunk'));
    expect(junk.entry).toBeUndefined();
    expect(junk.raw.toString()).toBe('junk');
  });
});

describe('reply values', () => {
  it('turns handler results into bytes: binary as is, text and JSON as text, nothing for null', () => {
    expect(replyBytes(Buffer.from([1]))).toEqual({ payload: Buffer.from([1]), text: false });
    expect(replyBytes(new Uint8Array([2, 3]))?.payload.equals(Buffer.from([2, 3]))).toBe(true);
    expect(replyBytes('é')).toEqual({ payload: Buffer.from('é'), text: true });
    expect(replyBytes({ a: 1 })).toEqual({ payload: Buffer.from('{"a":1}'), text: true });
    expect(replyBytes(undefined)).toBeUndefined();
    expect(replyBytes(null)).toBeUndefined();
    expect(() => replyBytes(() => 1)).toThrow(TypeError);
  });
});
