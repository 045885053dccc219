import { type DataClient, scripts } from '@redispatch/shared';

/** Entries taken in one call, oldest first, with the Redis server time of the take. */
export interface Taken {
  readonly nowMs: number;
  readonly entries: Buffer[];
}

/** A finished entry that could not be delivered: it moves to the outbound dead-letter list. */
export interface DeadEntry {
  readonly reason: string;
  readonly raw: Buffer;
}

/**
 * The consuming side of one outbound queue, for one consumer. Lists mode implements it with a
 * per-consumer processing list (`ListOutboundQueue`); a streams implementation would use a consumer
 * group (XREADGROUP / XACK / XCLAIM) behind the same four calls.
 */
export interface OutboundQueue {
  /** What this consumer took before and never finished (a restart resumes it), oldest first. */
  recover(): Promise<Buffer[]>;
  /** Up to `count` entries, blocking up to `blockSeconds` while none is waiting. */
  take(count: number, blockSeconds: number): Promise<Taken>;
  /** Removes delivered (or dropped) entries and dead-letters the others, in one call. */
  finish(done: readonly Buffer[], dead: readonly DeadEntry[]): Promise<void>;
  /** Hands every unfinished entry back to the shared queue (for queues several consumers share). */
  giveBack(): Promise<number>;
}

/**
 * Lists mode: entries move from the queue to this consumer's processing list atomically (LMOVE /
 * BLMOVE), and leave it only when finished, so a crash never loses one. The blocking BLMOVE runs on
 * its own connection (`blocking`); disconnect it to interrupt a take.
 */
export class ListOutboundQueue implements OutboundQueue {
  constructor(
    private readonly redis: DataClient,
    private readonly blocking: DataClient,
    private readonly source: string,
    private readonly processing: string,
    private readonly dead: string,
  ) {}

  private get keys(): scripts.OutboundQueueKeys {
    return { source: this.source, processing: this.processing };
  }

  async recover(): Promise<Buffer[]> {
    // The processing list has the newest at its head.
    return (await this.redis.lrangeBuffer(this.processing, 0, -1)).reverse();
  }

  async take(count: number, blockSeconds: number): Promise<Taken> {
    const first = await scripts.outboundTake(this.redis, this.keys, { count });
    if (first.entries.length > 0) return first;
    const woken = await this.blocking.blmoveBuffer(
      this.source,
      this.processing,
      'RIGHT',
      'LEFT',
      blockSeconds,
    );
    if (woken === null) return { nowMs: first.nowMs, entries: [] };
    const rest = count > 1 ? await scripts.outboundTake(this.redis, this.keys, { count: count - 1 }) : first;
    return { nowMs: rest.nowMs, entries: [woken, ...(count > 1 ? rest.entries : [])] };
  }

  async finish(done: readonly Buffer[], dead: readonly DeadEntry[]): Promise<void> {
    if (done.length === 0 && dead.length === 0) return;
    await scripts.outboundSettle(
      this.redis,
      { processing: this.processing, dead: this.dead },
      { done, dead },
    );
  }

  async giveBack(): Promise<number> {
    return scripts.outboundReturn(this.redis, this.keys);
  }
}
