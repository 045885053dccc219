import type { Keys } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { WorkerMetrics } from './metrics.js';

interface Nack {
  id: string;
  delayMs: number;
  error: string;
}

const RETRY_MS = 100;

/**
 * Collects acks and nacks during one event-loop turn and settles them with one script call, one
 * call in flight at a time. A failed call is retried (settling is idempotent: a second ack of the
 * same id is "stale" and changes nothing).
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

  /** Resolves once everything handed in so far is settled (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.pending === 0 && !this.flushing) return;
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
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    const acks = this.acks;
    const nacks = this.nacks;
    this.acks = [];
    this.nacks = [];
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
        acks.length,
        nacks.length,
        ...acks,
        ...nacks.flatMap((n) => [n.id, n.delayMs, n.error]),
      );
      this.metrics.acked.inc(acked);
      this.metrics.nacked.inc(retried + deadLettered);
      this.metrics.deadLettered.inc(deadLettered);
      this.metrics.stale.inc(stale);
      this.metrics.lastProgress.set(Date.now() / 1000);
    } catch (error) {
      // Keep them and try again shortly; the claim deadline bounds how long this can matter.
      this.acks.unshift(...acks);
      this.nacks.unshift(...nacks);
      this.onError(error);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    } finally {
      this.flushing = false;
    }
    if (this.pending > 0) this.schedule();
    else for (const resolve of this.idle.splice(0)) resolve();
  }
}
