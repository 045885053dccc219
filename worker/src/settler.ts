import type { Keys } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { WorkerMetrics } from './metrics.js';

export interface Nack {
  id: string;
  delayMs: number;
  error: string;
}

/** Settlements taken out of the buffer for one script call. */
export interface Settlements {
  acks: string[];
  nacks: Nack[];
}

const RETRY_MS = 100;

/** Flattens settlements into the scripts' ARGV tail: ack ids, then (id, delayMs, error) triples. */
export function settlementArgs(taken: Settlements): (string | number)[] {
  return [...taken.acks, ...taken.nacks.flatMap((n) => [n.id, n.delayMs, n.error])];
}

/**
 * Collects acks and nacks. Usually the worker's take loop carries them in its next claim call
 * (settle + claim in one round trip); when the loop is blocked waiting for work, they are flushed
 * on their own within one event-loop turn, one call in flight at a time. A failed call is retried:
 * settling is idempotent (a second ack of the same id is "stale" and changes nothing).
 */
export class Settler {
  private acks: string[] = [];
  private nacks: Nack[] = [];
  private flushing = false;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly workerId: string,
    private readonly maxAttempts: number,
    private readonly metrics: WorkerMetrics,
    private readonly onError: (error: unknown) => void,
  ) {}

  ack(id: string): void {
    this.acks.push(id);
    this.schedule();
  }

  nack(id: string, delayMs: number, error: string): void {
    this.nacks.push({ id, delayMs, error });
    this.schedule();
  }

  get pending(): number {
    return this.acks.length + this.nacks.length;
  }

  /** Removes everything pending, for a caller that settles it in its own script call. */
  take(): Settlements {
    const taken = { acks: this.acks, nacks: this.nacks };
    this.acks = [];
    this.nacks = [];
    return taken;
  }

  /** Puts back what a failed call could not settle (front of the line, order kept). */
  restore(taken: Settlements): void {
    this.acks.unshift(...taken.acks);
    this.nacks.unshift(...taken.nacks);
    this.schedule();
  }

  /** Accounts for a settle reply: [acked, retried, deadLettered, stale]. */
  record(acked: number, retried: number, deadLettered: number, stale: number): void {
    this.metrics.acked.inc(acked);
    this.metrics.nacked.inc(retried + deadLettered);
    this.metrics.deadLettered.inc(deadLettered);
    this.metrics.stale.inc(stale);
    if (acked + retried + deadLettered > 0) this.metrics.lastProgress.set(Date.now() / 1000);
    if (this.pending === 0 && !this.flushing) this.notifyIdle();
  }

  /** Resolves once everything handed in so far is settled (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.pending === 0 && !this.flushing) return;
    this.schedule();
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    if (this.pending === 0) {
      this.notifyIdle();
      return;
    }
    const taken = this.take();
    this.flushing = true;
    const k = this.keys;
    try {
      const [acked = 0, retried = 0, deadLettered = 0, stale = 0] = await this.redis.rdSettle(
        k.inflight,
        k.owner,
        k.held(this.workerId),
        k.attempts,
        k.body,
        k.errors,
        k.delayed,
        k.dlq,
        k.totals,
        this.workerId,
        this.maxAttempts,
        taken.acks.length,
        taken.nacks.length,
        ...settlementArgs(taken),
      );
      this.flushing = false;
      this.record(acked, retried, deadLettered, stale);
    } catch (error) {
      this.flushing = false;
      this.acks.unshift(...taken.acks);
      this.nacks.unshift(...taken.nacks);
      this.onError(error);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
    if (this.pending > 0) this.schedule();
    else this.notifyIdle();
  }

  private notifyIdle(): void {
    for (const resolve of this.idle.splice(0)) resolve();
  }
}
