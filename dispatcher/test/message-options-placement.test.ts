import { decodeEnvelope, encodeEnvelope } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { classifyPayload, optionsPlacement } from '../src/routing/placement.js';

const header = (fields: Parameters<typeof encodeEnvelope>[0]) => {
  const decoded = decodeEnvelope(encodeEnvelope(fields, 'b'));
  if (decoded.kind !== 'envelope') throw new Error('not an envelope');
  return decoded.header;
};

describe("the leader's intake of per-message options (header only)", () => {
  it('rejects a message already past its expiry with reason "expired", and takes one that is not', () => {
    const expired = encodeEnvelope({ expiresAt: Date.now() - 1 }, 'b');
    // Within the size limit, the whole payload is kept in the dead letters (it can be inspected).
    expect(classifyPayload(expired, 1_000)).toEqual({ kind: 'rejected', reason: 'expired', kept: expired });
    expect(classifyPayload(encodeEnvelope({ expiresAt: Date.now() + 60_000 }, 'b'), 1_000).kind).toBe(
      'envelope',
    );
  });

  it('adds nothing to the placement of a message without options (priority 0 included)', () => {
    expect(optionsPlacement(header({ id: 'x', timestamp: 1 }))).toBe('');
    expect(optionsPlacement(header({ priority: 0 }))).toBe('');
    expect(optionsPlacement(header({ timeoutMs: 5, expiresAt: Date.now() + 1_000 }))).toBe('');
  });

  it('writes the attempt limit and a non-zero priority for the scripts', () => {
    expect(optionsPlacement(header({ attempts: 3 }))).toBe('|a3');
    expect(optionsPlacement(header({ priority: 9 }))).toBe('|p9');
    expect(optionsPlacement(header({ attempts: 255, priority: 1 }))).toBe('|a255p1');
  });
});
