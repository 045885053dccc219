import { type Keys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { WorkerMetrics } from './metrics.js';

export type Nack = scripts.SettleNack;

/** A reply to write with its message's ack: the outbound route and the entry tail (see @redispatch/shared outbound). */
export type PendingReply = scripts.ReplyWrite;

/** Settlements taken out of the buffer for one script call. */
export interface Settlements {
  acks: string[];
  nacks: Nack[];
  replies: PendingReply[];
}

/** Where the settle scripts write replies: the queue bound and the deployment's hash tag. */
export type OutboundSettings = scripts.ReplyQueues;

const RETRY_MS = 100;

/**
 * Collects acks and nacks. Usually the worker's take loop carries them in its next claim call
 * (settle + claim in one round trip); when the loop is blocked waiting for work, they are flushed
 * on their own within one event-loop turn, one call in flight at a time. A failed call is retried:
 * settling is idempotent (a second ack of the same id is "stale" and changes nothing).
 */
export class Settler {
  private acks: string[] = [];
  private nacks: Nack[] = [];
  private replies: PendingReply[] = [];
  private flushing = false;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly workerId: string,
    private readonly maxAttempts: number,
    private readonly outbound: OutboundSettings,
    private readonly metrics: WorkerMetrics,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Acks `id`; its replies are written in the same script call, and only if the ack is not stale. */
  ack(id: string, replies?: readonly PendingReply[]): void {
    this.acks.push(id);
    if (replies) this.replies.push(...replies);
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
    const taken = { acks: this.acks, nacks: this.nacks, replies: this.replies };
    this.acks = [];
    this.nacks = [];
    this.replies = [];
    return taken;
  }

  /** Puts back what a failed call could not settle (front of the line, order kept). */
  restore(taken: Settlements): void {
    this.acks.unshift(...taken.acks);
    this.nacks.unshift(...taken.nacks);
    this.replies.unshift(...taken.replies);
    this.schedule();
  }

  /** Accounts for a settle reply. */
  record({ acked, retried, deadLettered, stale, replied, repliesDeadLettered }: scripts.SettleReply): void {
    this.metrics.replies.inc({ outcome: 'queued' }, replied);
    this.metrics.replies.inc({ outcome: 'dead_lettered' }, repliesDeadLettered);
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
    try {
      const reply = await scripts.settle(this.redis, this.keys, {
        workerId: this.workerId,
        maxAttempts: this.maxAttempts,
        ...taken,
        replyQueues: this.outbound,
      });
      this.flushing = false;
      this.record(reply);
    } catch (error) {
      this.flushing = false;
      this.acks.unshift(...taken.acks);
      this.nacks.unshift(...taken.nacks);
      this.replies.unshift(...taken.replies);
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
