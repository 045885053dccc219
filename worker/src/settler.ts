import { type Keys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { WorkerMetrics } from './metrics.js';
import { SettleLoop } from './settle-loop.js';

export type Nack = scripts.SettleNack;

/** A reply to write with its message's ack: the outbound route and the entry tail (see @redispatch/shared outbound). */
export type PendingReply = scripts.ReplyWrite;

/** Settlements taken out of the buffer for one script call. */
export interface Settlements {
  acks: string[];
  nacks: Nack[];
  replies: PendingReply[];
  /** Handlers' return values for the results stream (empty unless REDISPATCH_RESULTS=stream). */
  results: scripts.ResultWrite[];
}

/** Where the settle scripts write replies: the queue bound and the deployment's hash tag. */
export type OutboundSettings = scripts.ReplyQueues;

/**
 * Collects acks and nacks. Usually the worker's take loop carries them in its next claim call
 * (settle + claim in one round trip); when the loop is blocked waiting for work, they are flushed
 * on their own by a SettleLoop (one `settle` call per event-loop turn, retried on failure:
 * settling is idempotent, a second ack of the same id is "stale" and changes nothing).
 */
export class Settler {
  private acks: string[] = [];
  private nacks: Nack[] = [];
  private replies: PendingReply[] = [];
  private results: scripts.ResultWrite[] = [];
  private readonly loop: SettleLoop<Settlements, scripts.SettleReply>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly workerId: string,
    private readonly maxAttempts: number,
    private readonly outbound: OutboundSettings,
    /** Where results go; undefined: results are off and no ack carries one. */
    readonly resultsStream: scripts.ResultsStream | undefined,
    private readonly metrics: WorkerMetrics,
    private readonly onError: (error: unknown) => void,
  ) {
    this.loop = new SettleLoop({
      hasPending: () => this.pending > 0,
      take: () => this.take(),
      write: (taken) =>
        scripts.settle(this.redis, this.keys, {
          workerId: this.workerId,
          maxAttempts: this.maxAttempts,
          ...taken,
          replyQueues: this.outbound,
          resultsStream: this.resultsStream,
        }),
      settled: (_taken, reply) => {
        this.record(reply);
        return false;
      },
      failed: (taken, error) => {
        this.putBack(taken);
        this.onError(error);
      },
    });
  }

  /** Acks `id`; its replies (and result) are written in the same script call, and only if the ack is not stale. */
  ack(id: string, replies?: readonly PendingReply[], result?: Buffer): void {
    this.acks.push(id);
    if (replies) this.replies.push(...replies);
    if (result) this.results.push({ id, result });
    this.loop.request();
  }

  nack(id: string, delayMs: number, error: string): void {
    this.nacks.push({ id, delayMs, error });
    this.loop.request();
  }

  get pending(): number {
    return this.acks.length + this.nacks.length;
  }

  /** Removes everything pending, for a caller that settles it in its own script call. */
  take(): Settlements {
    const taken = { acks: this.acks, nacks: this.nacks, replies: this.replies, results: this.results };
    this.acks = [];
    this.nacks = [];
    this.replies = [];
    this.results = [];
    return taken;
  }

  /** Puts back what a failed call could not settle (front of the line, order kept). */
  restore(taken: Settlements): void {
    this.putBack(taken);
    this.loop.request();
  }

  /** Accounts for a settle reply (the loop's own, or the claim path's settle + claim). */
  record({ acked, retried, deadLettered, stale, replied, repliesDeadLettered }: scripts.SettleReply): void {
    this.metrics.replies.inc({ outcome: 'queued' }, replied);
    this.metrics.replies.inc({ outcome: 'dead_lettered' }, repliesDeadLettered);
    this.metrics.acked.inc(acked);
    this.metrics.nacked.inc(retried + deadLettered);
    this.metrics.deadLettered.inc(deadLettered);
    this.metrics.stale.inc(stale);
    if (acked + retried + deadLettered > 0) this.metrics.lastProgress.set(Date.now() / 1000);
    this.loop.notifyIfIdle();
  }

  /** Resolves once everything handed in so far is settled (or `timeoutMs` passed). */
  drain(timeoutMs: number): Promise<void> {
    return this.loop.drain(timeoutMs);
  }

  private putBack(taken: Settlements): void {
    this.acks.unshift(...taken.acks);
    this.nacks.unshift(...taken.nacks);
    this.replies.unshift(...taken.replies);
    this.results.unshift(...taken.results);
  }
}
