import { hash } from 'node:crypto';

/**
 * A message's own fingerprint: 12 base64 characters of its SHA-1. Computed only where a marker is
 * needed (the last message of a leader's batch, a standby's search for the leader's marker), never
 * per message: hashing every message was a quarter of a standby's CPU.
 */
export function fingerprint(payload: Buffer | undefined): string {
  return payload === undefined ? '' : hash('sha1', payload, 'base64').slice(0, 12);
}

/** A message's fingerprint, or where to get it: its payload (hashed on demand) or the fingerprint itself. */
export type FingerprintSource = Buffer | string | undefined;

export function fingerprintFrom(source: FingerprintSource): string {
  return typeof source === 'string' ? source : fingerprint(source);
}

/** A message's own fingerprint: the last part of its marker. */
export function fingerprintOf(marker: string): string {
  return marker.slice(marker.lastIndexOf('.') + 1);
}

/** The marker of a message given the two heard before it: `fp(two before).fp(one before).fp(own)`. */
export function markerOf(
  own: FingerprintSource,
  before: FingerprintSource,
  twoBefore: FingerprintSource,
): string {
  return `${fingerprintFrom(twoBefore)}.${fingerprintFrom(before)}.${fingerprintFrom(own)}`;
}

/** What the leader batches per message, and what a new leader replays. */
export interface Received {
  payload: Buffer;
  /** Fingerprint of this message and the two before it, as this process received them. */
  readonly marker: string;
  /** Acknowledges the message to its transport once written (JetStream); absent for pub/sub. */
  ack?: () => void;
}

/**
 * A received message that knows the two payloads heard before it and hashes them only when its
 * marker is read (for a leader: once per batch, for its last message).
 */
export class HeardMessage implements Received {
  ack?: () => void;
  private cached: string | undefined;

  constructor(
    readonly payload: Buffer,
    readonly before: FingerprintSource,
    readonly twoBefore: FingerprintSource,
    /** Its own fingerprint when already known (else the payload is hashed). */
    private readonly own?: string,
  ) {}

  get marker(): string {
    this.cached ??= markerOf(this.own ?? this.payload, this.before, this.twoBefore);
    return this.cached;
  }
}
