import {
  type DecodedHeader,
  decodeEnvelope,
  envelopeHeaderLength,
  hasEnvelopeMarker,
} from '@redispatch/shared';

/** What the leader learns from a payload without ever parsing its body. */
export type Classified =
  | { kind: 'plain' }
  | { kind: 'envelope'; header: DecodedHeader }
  | { kind: 'rejected'; reason: string };

/**
 * Oversize payloads and malformed envelope headers are rejected (dead-lettered with the reason);
 * the first byte tells plain from enveloped, and only the header is ever read.
 */
export function classifyPayload(payload: Buffer, maxPayloadBytes: number): Classified {
  if (payload.length > maxPayloadBytes) {
    return {
      kind: 'rejected',
      reason: `oversize: ${payload.length} bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=${maxPayloadBytes}`,
    };
  }
  const headerLength = hasEnvelopeMarker(payload) ? envelopeHeaderLength(payload) : 0;
  if (headerLength === 0) return { kind: 'plain' };
  const decoded = decodeEnvelope(payload);
  if (decoded.kind !== 'envelope') {
    return {
      kind: 'rejected',
      reason: `malformed envelope: ${decoded.kind === 'malformed' ? decoded.reason : 'no header'}`,
    };
  }
  return { kind: 'envelope', header: decoded.header };
}

/** Delay placement shared by both modes: 'd<ms>' relative, 'D<epochMs>' absolute, '' none. */
export function delayPlacement(header: DecodedHeader): string {
  if (header.delayMs !== undefined && header.delayMs > 0) return `d${header.delayMs}`;
  if (header.dueAt !== undefined) return `D${header.dueAt}`;
  return '';
}
