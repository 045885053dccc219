/**
 * Placement: where a payload goes, decided the same way in both routing modes — rejected or
 * accepted (classify), now or later (delay), and which worker owns its affinity key (rendezvous).
 */
import {
  type DecodedHeader,
  decodeEnvelope,
  envelopeHeaderLength,
  hasEnvelopeMarker,
  oversizeReason,
} from '@redispatch/shared';

/** What the leader learns from a payload without ever parsing its body. */
export type Classified =
  | { kind: 'plain' }
  | { kind: 'envelope'; header: DecodedHeader }
  | { kind: 'rejected'; reason: string; kept: Buffer };

/**
 * What is kept of an oversize payload in the dead letters: its first bytes (enough to recognise it),
 * its size in the reason. Storing it whole let publishers fill Redis (issue 22).
 */
export const REJECTED_PREFIX_BYTES = 1024;

/**
 * Oversize payloads and malformed envelope headers are rejected (dead-lettered with the reason);
 * the first byte tells plain from enveloped, and only the header is ever read.
 */
export function classifyPayload(payload: Buffer, maxPayloadBytes: number): Classified {
  if (payload.length > maxPayloadBytes) {
    const kept = payload.subarray(0, REJECTED_PREFIX_BYTES);
    return {
      kind: 'rejected',
      reason: oversizeReason(payload.length, maxPayloadBytes, kept.length),
      kept,
    };
  }
  const headerLength = hasEnvelopeMarker(payload) ? envelopeHeaderLength(payload) : 0;
  if (headerLength === 0) return { kind: 'plain' };
  const decoded = decodeEnvelope(payload);
  if (decoded.kind !== 'envelope') {
    return {
      kind: 'rejected',
      reason: `malformed envelope: ${decoded.kind === 'malformed' ? decoded.reason : 'no header'}`,
      // Within the size limit: kept whole, so it can be inspected (and replayed once fixed).
      kept: payload,
    };
  }
  const { header } = decoded;
  // Past its expiry at intake: dead-lettered, never routed (the worker checks again before handling).
  if (header.expiresAt !== undefined && header.expiresAt <= Date.now()) {
    return { kind: 'rejected', reason: 'expired', kept: payload };
  }
  return { kind: 'envelope', header };
}

/**
 * The per-message options the Lua scripts keep beside the message: '' for a message without any
 * (the usual case: nothing is added), else '|' + 'a<maxAttempts>' and/or 'p<priority>' (priority 0
 * is the default and is not written). Appended to the placement, so it costs no extra argument.
 */
export function optionsPlacement(header: DecodedHeader): string {
  const { attempts, priority } = header;
  if (attempts === undefined && (priority === undefined || priority === 0)) return '';
  let options = '|';
  if (attempts !== undefined) options += `a${attempts}`;
  if (priority !== undefined && priority > 0) options += `p${priority}`;
  return options;
}

/** Delay placement shared by both modes: 'd<ms>' relative, 'D<epochMs>' absolute, '' none. */
export function delayPlacement(header: DecodedHeader): string {
  if (header.delayMs !== undefined && header.delayMs > 0) return `d${header.delayMs}`;
  if (header.dueAt !== undefined) return `D${header.dueAt}`;
  return '';
}

/**
 * Rendezvous (highest-random-weight) hashing: a key goes to the worker with the highest
 * hash(key, worker). When a worker leaves, only its own keys move; when one joins, it takes only
 * the keys it now wins. FNV-1a (32-bit) is enough: the score needs spread, not secrecy.
 */
function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // Final avalanche so similar worker ids do not produce correlated scores.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  return hash >>> 0;
}

/** Index into `workers` of the worker that owns `key`, or -1 when there is none. */
export function rendezvousIndex(key: string, workers: readonly string[]): number {
  const keyHash = fnv1a(key, 0x811c9dc5);
  let best = -1;
  let bestScore = -1;
  for (let i = 0; i < workers.length; i++) {
    const score = fnv1a(workers[i] as string, keyHash);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}
