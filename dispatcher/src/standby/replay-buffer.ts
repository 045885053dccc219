import { performance } from 'node:perf_hooks';
import {
  type FingerprintSource,
  fingerprint,
  fingerprintFrom,
  HeardMessage,
  type Received,
} from './marker.js';

export { fingerprintOf, type Received } from './marker.js';

export interface ReplayBufferLimits {
  maxMessages: number;
  maxBytes: number;
  maxAgeMs: number;
}

/** An entry's two predecessors in arrival order, where they are not the entries just before it. */
interface Predecessors {
  before: FingerprintSource;
  twoBefore: FingerprintSource;
}

/**
 * Every dispatcher subscribes, and every message it receives has a marker: a fingerprint of the
 * message with the two before it. Every subscriber sees the same stream in the same order, so a
 * standby computes the same marker the leader did for the same message. The leader stores the
 * marker of the last message of each batch in the same script call as the batch (no extra round
 * trip). A standby drops what the stored marker proves written; a new leader replays everything
 * after it — duplicates rather than losses. The window of three makes a match on repeated payloads
 * unlikely; where contents do repeat, the *first* match wins, which replays more, never less.
 *
 * A standby keeps raw payloads in parallel arrays (no object, string or hash per message) and
 * fingerprints lazily: to find the leader's marker it hashes backwards from the newest entry (the
 * marker is recent, so that is a few messages), then looks for an earlier entry with the same bytes
 * (a byte comparison, no hash) so the first match still wins. Fingerprints are cached per entry.
 */
export class ReplayBuffer {
  /** The two messages this process heard last (leader or standby), in arrival order. */
  private last: Buffer | undefined;
  private secondLast: Buffer | undefined;

  private payloads: Buffer[] = [];
  private times: number[] = [];
  private acks: ((() => void) | undefined)[] = [];
  /** Own fingerprint, once computed (or given). */
  private fps: (string | undefined)[] = [];
  /** Set at the head and wherever the entry before is not the message heard before it. */
  private predecessors: (Predecessors | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  evicted = 0;
  /** The last marker this buffer trimmed through (it is no longer in the buffer). */
  private trimmedMarker = '';

  constructor(private readonly limits: ReplayBufferLimits) {}

  get size(): number {
    return this.payloads.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** A received message as the leader batches it; call for every message heard while leading. */
  mark(payload: Buffer): HeardMessage {
    const received = new HeardMessage(payload, this.last, this.secondLast);
    this.heard(payload);
    return received;
  }

  /** Keeps a message heard as a standby, evicting the oldest beyond the count and byte limits. */
  keep(payload: Buffer, ack?: () => void): void {
    this.append(payload, ack, this.last, this.secondLast, undefined);
    this.heard(payload);
  }

  /** Keeps a message marked earlier (its marker stays the one it was given). */
  push(received: Received): void {
    if (received instanceof HeardMessage) {
      this.append(received.payload, received.ack, received.before, received.twoBefore, undefined);
      return;
    }
    const [twoBefore = '', before = '', own = ''] = received.marker.split('.');
    this.append(received.payload, received.ack, before, twoBefore, own);
  }

  /** Puts messages back at the front, in order (a leader stepping down with unwritten messages). */
  unshift(received: Received[]): void {
    if (received.length === 0) return;
    const rest = new ReplayBuffer({ maxMessages: Infinity, maxBytes: Infinity, maxAgeMs: Infinity });
    for (const r of received) rest.push(r);
    const now = performance.now();
    const keep = (from: unknown[]) => from.slice(this.head);
    this.payloads = [...rest.payloads, ...keep(this.payloads)] as Buffer[];
    this.times = [...rest.times.map(() => now), ...keep(this.times)] as number[];
    this.acks = [...rest.acks, ...keep(this.acks)] as typeof this.acks;
    this.fps = [...rest.fps, ...keep(this.fps)] as typeof this.fps;
    this.predecessors = [...rest.predecessors, ...keep(this.predecessors)] as typeof this.predecessors;
    this.head = 0;
    for (const r of received) this.bytes += r.payload.length;
    this.enforceLimits();
  }

  /** True when a message whose own fingerprint is `fp` was kept at or after `receivedSince`. */
  heardSince(fp: string, receivedSince: number): boolean {
    for (let i = this.head; i < this.payloads.length; i++) {
      if ((this.times[i] as number) >= receivedSince && this.fpAt(i) === fp) return true;
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
    // The leader wrote nothing new since the last poll: nothing more to drop (and no search).
    if (receivedSince === Number.NEGATIVE_INFINITY && marker === this.trimmedMarker) return 0;
    const index = this.indexOf(marker, receivedSince);
    if (index < 0) return 0;
    const dropped = index - this.head + 1;
    this.dropThrough(index + 1);
    this.trimmedMarker = marker;
    return dropped;
  }

  /**
   * Everything a new leader must replay given the marker the old leader last stored: what follows
   * the marker, or — when the marker is not here and is not the one this buffer last trimmed through —
   * all of it (nothing can be proven written). Empties the buffer.
   */
  takeUnwritten(marker: string): { replay: Received[]; matched: boolean } {
    const index = marker ? this.indexOf(marker, Number.NEGATIVE_INFINITY) : -1;
    const matched = index >= 0 || (marker !== '' && marker === this.trimmedMarker);
    const replay: Received[] = [];
    for (let i = index >= 0 ? index + 1 : this.head; i < this.payloads.length; i++) {
      const message = new HeardMessage(
        this.payloads[i] as Buffer,
        this.beforeSource(i),
        this.twoBeforeSource(i),
        this.fps[i],
      );
      const ack = this.acks[i];
      if (ack) message.ack = ack;
      replay.push(message);
    }
    this.payloads = [];
    this.times = [];
    this.acks = [];
    this.fps = [];
    this.predecessors = [];
    this.head = 0;
    this.bytes = 0;
    return { replay, matched };
  }

  /** Applies the limits now (also called periodically, so old entries age out without new traffic). */
  enforceLimits(): void {
    const oldestAllowed = performance.now() - this.limits.maxAgeMs;
    let next = this.head;
    let bytes = this.bytes;
    const end = this.payloads.length;
    while (next < end) {
      const count = end - next;
      if (
        count <= this.limits.maxMessages &&
        bytes <= this.limits.maxBytes &&
        (this.times[next] as number) >= oldestAllowed
      )
        break;
      bytes -= (this.payloads[next] as Buffer).length;
      next += 1;
    }
    this.evicted += next - this.head;
    this.dropThrough(next);
  }

  private heard(payload: Buffer): void {
    this.secondLast = this.last;
    this.last = payload;
  }

  private append(
    payload: Buffer,
    ack: (() => void) | undefined,
    before: FingerprintSource,
    twoBefore: FingerprintSource,
    own: string | undefined,
  ): void {
    // Contiguous with the newest entry (the usual case): its predecessors are the entries before it.
    const contiguous = this.size > 0 && before === this.payloads[this.payloads.length - 1];
    this.payloads.push(payload);
    this.times.push(performance.now());
    this.acks.push(ack);
    this.fps.push(own);
    this.predecessors.push(contiguous ? undefined : { before, twoBefore });
    this.bytes += payload.length;
    // Count and bytes are checked per message; age is applied by the periodic enforceLimits().
    if (this.size > this.limits.maxMessages || this.bytes > this.limits.maxBytes) this.enforceLimits();
  }

  private fpAt(i: number): string {
    let fp = this.fps[i];
    if (fp === undefined) {
      fp = fingerprint(this.payloads[i]);
      this.fps[i] = fp;
    }
    return fp;
  }

  /** Where entry i's own fingerprint comes from, without hashing. */
  private sourceAt(i: number): FingerprintSource {
    return this.fps[i] ?? this.payloads[i];
  }

  private beforeSource(i: number): FingerprintSource {
    return this.predecessors[i]?.before ?? this.sourceAt(i - 1);
  }

  private twoBeforeSource(i: number): FingerprintSource {
    const own = this.predecessors[i];
    return own ? own.twoBefore : this.beforeSource(i - 1);
  }

  /** Whether entry i's marker is `twoBefore.before.own` (hashing, and caching, only what it must). */
  private matchesAt(i: number, twoBefore: string, before: string, own: string): boolean {
    if (this.fpAt(i) !== own) return false;
    const preset = this.predecessors[i];
    if (preset)
      return fingerprintFrom(preset.before) === before && fingerprintFrom(preset.twoBefore) === twoBefore;
    if (this.fpAt(i - 1) !== before) return false;
    const previous = this.predecessors[i - 1];
    return (previous ? fingerprintFrom(previous.before) : this.fpAt(i - 2)) === twoBefore;
  }

  /** The first entry (kept at or after `since`) whose marker is `marker`, or -1. */
  private indexOf(marker: string, since: number): number {
    const parts = marker.split('.');
    if (parts.length !== 3) return -1;
    const [twoBefore = '', before = '', own = ''] = parts;
    // The leader's marker is recent: search from the newest entry (hashing only what follows it)...
    let found = -1;
    for (let i = this.payloads.length - 1; i >= this.head; i--) {
      if ((this.times[i] as number) >= since && this.matchesAt(i, twoBefore, before, own)) {
        found = i;
        break;
      }
    }
    if (found < 0) return -1;
    // ...then the first match wins: an earlier entry can match only if it has the same bytes.
    const target = this.payloads[found] as Buffer;
    for (let k = this.head; k < found; k++) {
      const payload = this.payloads[k] as Buffer;
      if (payload.length !== target.length || (this.times[k] as number) < since) continue;
      const known = this.fps[k];
      const same = known !== undefined ? known === own : payload.equals(target);
      if (same && this.matchesAt(k, twoBefore, before, own)) return k;
    }
    return found;
  }

  /** Drops entries before `next`, keeping the new head's predecessors. */
  private dropThrough(next: number): void {
    if (next <= this.head) return;
    if (next < this.payloads.length && this.predecessors[next] === undefined) {
      this.predecessors[next] = { before: this.sourceAt(next - 1), twoBefore: this.beforeSource(next - 1) };
    }
    for (let i = this.head; i < next; i++) this.bytes -= (this.payloads[i] as Buffer).length;
    this.head = next;
    this.compact();
  }

  private compact(): void {
    // Amortised O(1): drop the consumed prefix once it dominates the arrays.
    if (this.head > 1024 && this.head * 2 > this.payloads.length) {
      this.payloads = this.payloads.slice(this.head);
      this.times = this.times.slice(this.head);
      this.acks = this.acks.slice(this.head);
      this.fps = this.fps.slice(this.head);
      this.predecessors = this.predecessors.slice(this.head);
      this.head = 0;
    }
  }
}
