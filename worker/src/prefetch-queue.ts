import type { Delivery } from './transport.js';

/** A claimed message waiting for a handler slot, with when its claim expires (monotonic clock). */
export interface Prefetched {
  readonly delivery: Delivery;
  readonly claimedAt: number;
  readonly expireAt: number;
}

/** Claimed (prefetched) messages waiting for a handler slot, oldest first. */
export class PrefetchQueue {
  private entries: Prefetched[] = [];

  get length(): number {
    return this.entries.length;
  }

  push(entry: Prefetched): void {
    this.entries.push(entry);
  }

  shift(): Prefetched | undefined {
    return this.entries.shift();
  }

  /**
   * Drops the messages whose claim expired (the leader redelivers them) and says how many. Oldest
   * first, so the head says whether anything expired.
   */
  dropExpired(now: number): number {
    if ((this.entries[0]?.expireAt ?? Number.POSITIVE_INFINITY) > now) return 0;
    const before = this.entries.length;
    this.entries = this.entries.filter((entry) => entry.expireAt > now);
    return before - this.entries.length;
  }
}
