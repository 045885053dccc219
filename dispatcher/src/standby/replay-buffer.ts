import { hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/** A message's own fingerprint: the last part of its marker. */
export function fingerprintOf(marker: string): string {
  return marker.slice(marker.lastIndexOf('.') + 1);
}

/** What the buffer keeps per message. */
export interface Received {
  payload: Buffer;
  /** Fingerprint of this message and the two before it, as this process received them. */
  marker: string;
  /** Acknowledges the message to its transport once written (JetStream); absent for pub/sub. */
  ack?: () => void;
}

interface Entry extends Received {
  at: number;
}

export interface ReplayBufferLimits {
  maxMessages: number;
  maxBytes: number;
  maxAgeMs: number;
}

/**
 * Every dispatcher subscribes, and every message it receives gets a marker: a fingerprint of the
 * message with the two before it. Every subscriber sees the same stream in the same order, so a
 * standby computes the same marker the leader did for the same message. The leader stores the
 * marker of the last message of each batch in the same script call as the batch (no extra round
 * trip). A standby drops what the stored marker proves written; a new leader replays everything
 * after it — duplicates rather than losses. The window of three makes a match on repeated payloads
 * unlikely; where contents do repeat, the *first* match wins, which replays more, never less.
 */
export class ReplayBuffer {
  private entries: Entry[] = [];
  private head = 0;
  private bytes = 0;
  private previous: [string, string] = ['', ''];
  evicted = 0;
  /** The last marker this buffer trimmed through (it is no longer in the buffer). */
  private trimmedMarker = '';

  constructor(private readonly limits: ReplayBufferLimits) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Fingerprints a received message; call for every message in arrival order, leader or not. */
  mark(payload: Buffer): Received {
    const fingerprint = hash('sha1', payload, 'base64').slice(0, 12);
    const marker = `${this.previous[0]}.${this.previous[1]}.${fingerprint}`;
    this.previous = [this.previous[1], fingerprint];
    return { payload, marker };
  }

  /** Keeps a received message (standby), evicting the oldest beyond the count, byte and age limits. */
  push(received: Received): void {
    // Mutate rather than copy: this runs for every message on every standby.
    const entry = received as Entry;
    entry.at = performance.now();
    this.entries.push(entry);
    this.bytes += received.payload.length;
    // Count and bytes are checked per message; age is applied by the periodic enforceLimits().
    if (this.size > this.limits.maxMessages || this.bytes > this.limits.maxBytes) this.enforceLimits();
  }

  /** Puts messages back at the front, in order (a leader stepping down with unwritten messages). */
  unshift(received: Received[]): void {
    if (received.length === 0) return;
    const now = performance.now();
    this.entries = [...received.map((r) => ({ ...r, at: now })), ...this.entries.slice(this.head)];
    this.head = 0;
    for (const r of received) this.bytes += r.payload.length;
    this.enforceLimits();
  }

  /** True when a message whose own fingerprint is `fingerprint` was kept at or after `receivedSince`. */
  heardSince(fingerprint: string, receivedSince: number): boolean {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i] as Entry;
      if (entry.at >= receivedSince && fingerprintOf(entry.marker) === fingerprint) return true;
    }
    return false;
  }

  /**
   * Records that this buffer holds everything after `marker` although the message itself is not here:
   * a leader stepping down, whose own last written message it never buffered, with the unwritten rest
   * put back in front. Counts as a trim through it for `trimmedThrough` and `takeUnwritten`.
   */
  heldEverythingAfter(marker: string): void {
    if (marker) this.trimmedMarker = marker;
  }

  /** True when `marker` is the one this buffer last trimmed through (so it holds everything after it). */
  trimmedThrough(marker: string): boolean {
    return marker !== '' && marker === this.trimmedMarker;
  }

  /**
   * Drops everything up to and including the first message with `marker` (proven written). With
   * `receivedSince` (performance.now()), only a message kept at or after that time counts: after a
   * subscription gap, a marker from before the gap proves nothing about what came after it.
   */
  trimThrough(marker: string, receivedSince = Number.NEGATIVE_INFINITY): number {
    if (!marker) return 0;
    const index = this.indexOf(marker, receivedSince);
    if (index < 0) return 0;
    const dropped = index - this.head + 1;
    for (let i = this.head; i <= index; i++) this.bytes -= (this.entries[i] as Entry).payload.length;
    this.head = index + 1;
    this.trimmedMarker = marker;
    this.compact();
    return dropped;
  }

  /**
   * Everything a new leader must replay given the marker the old leader last stored: what follows
   * the marker, or — when the marker is not here and is not the one this buffer last trimmed through —
   * all of it (nothing can be proven written). Empties the buffer.
   */
  takeUnwritten(marker: string): { replay: Received[]; matched: boolean } {
    const index = marker ? this.indexOf(marker) : -1;
    const matched = index >= 0 || (marker !== '' && marker === this.trimmedMarker);
    const from = index >= 0 ? index + 1 : this.head;
    const replay = this.entries.slice(from).map(({ payload, marker: m }) => ({ payload, marker: m }));
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    return { replay, matched };
  }

  private indexOf(marker: string, receivedSince = Number.NEGATIVE_INFINITY): number {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i] as Entry;
      if (entry.marker === marker && entry.at >= receivedSince) return i;
    }
    return -1;
  }

  /** Applies the limits now (also called periodically, so old entries age out without new traffic). */
  enforceLimits(): void {
    const oldestAllowed = performance.now() - this.limits.maxAgeMs;
    while (this.size > 0) {
      const first = this.entries[this.head] as Entry;
      if (
        this.size <= this.limits.maxMessages &&
        this.bytes <= this.limits.maxBytes &&
        first.at >= oldestAllowed
      )
        break;
      this.bytes -= first.payload.length;
      this.head += 1;
      this.evicted += 1;
    }
    this.compact();
  }

  private compact(): void {
    // Amortised O(1): drop the consumed prefix once it dominates the array.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
