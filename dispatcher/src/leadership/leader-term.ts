import {
  type DataClient,
  FencedError,
  type Keys,
  LeadershipLostError,
  type Logger,
} from '@redispatch/shared';
import type { DispatcherMetrics } from '../metrics.js';
import { Batcher } from '../routing/batcher.js';
import { traceDispatch } from '../routing/dispatch-span.js';
import type { LeaderRouting } from '../routing/routing-mode.js';
import { Scheduler } from '../routing/schedules/scheduler.js';
import type { Received } from '../standby/replay-buffer.js';
import { DueWatch } from './due-watch.js';
import type { Elected } from './election.js';
import type { LeaderLease } from './leader-lease.js';
import type { LeaseRenewal } from './lease-renewal.js';

/** Why a leader stopped leading (the `reason` label of redispatch_stepdowns_total). */
export type StepDownReason =
  | 'fenced'
  | 'renewal_failed'
  | 'lease_expired'
  | 'shutdown'
  | 'error'
  | 'ingress_lost'
  | 'pending_full';

export interface LeaderTermOptions {
  elected: Elected;
  renewal: LeaseRenewal;
  lease: LeaderLease;
  batchSize: number;
  /** The deployment prefix: the dispatch spans' `messaging.destination.name`. */
  prefix: string;
  reapIntervalMs: number;
  /** How often to read the delayed set's earliest due time (0: promote only at reap ticks). */
  dueCheckMs: number;
  /** REDISPATCH_LEADER_PENDING_BYTES / _MAX: what the batcher may hold unwritten before stepping down. */
  maxPendingBytes: number;
  maxPending: number;
  /** Lists mode: a reap that found a backlog and live workers asks for a write (freed room). */
  kickOnBacklog: boolean;
  metrics: DispatcherMetrics;
  log: Logger;
  /** The data Redis and keys: the scheduler reads the schedules there. */
  redis: DataClient;
  keys: Keys;
  /** The leader lease: a failover takes about this long, so the scheduler's grace is built on it. */
  leaseMs: number;
  /** False once this term ended or the dispatcher is shutting down: the reap loop stops. */
  isCurrent: () => boolean;
  /** Fenced or the lease ran out: the dispatcher steps down. */
  onLost: (reason: StepDownReason) => Promise<void>;
}

/** The fatal errors of a leader's write: someone else leads now, or may. */
function lostReason(error: unknown): StepDownReason | undefined {
  if (error instanceof FencedError) return 'fenced';
  if (error instanceof LeadershipLostError) return 'lease_expired';
  return undefined;
}

/**
 * One leader's term: everything that exists only while this process leads — its epoch and message
 * ids, the batcher writing through the mode's routing, the lease renewal and the reap loop. Made on
 * election and ended at step-down, so a dispatcher leads exactly when it holds a term.
 */
export class LeaderTerm {
  readonly epoch: number;
  private readonly batcher: Batcher;
  private readonly routing: LeaderRouting;
  private readonly scheduler: Scheduler;
  private sequence = 0;
  private reapTimer: NodeJS.Timeout | undefined;
  private readonly dueWatch: DueWatch;
  /** A reap call is awaiting its reply; a due timer firing meanwhile asks for another right after. */
  private reaping = false;
  private reapAgain = false;
  /** The rate limit's release loop (only when the routing has one). */
  private releaseTimer: NodeJS.Timeout | undefined;
  /** The marker of the last batch this term wrote ('' before its first): what a successor's election reads. */
  lastWrittenMarker = '';

  constructor(private readonly options: LeaderTermOptions) {
    const { elected, lease, metrics, log } = options;
    this.epoch = elected.epoch;
    this.routing = elected.routing;
    const routing = this.routing;
    const batcher: Batcher = new Batcher({
      maxBatch: options.batchSize,
      write: async (batch) => {
        await traceDispatch(options.prefix, this.epoch, batch, () => lease.guard(() => routing.write(batch)));
        this.lastWrittenMarker = batch.marker || this.lastWrittenMarker;
        metrics.pending.set(batcher.pendingCount);
        // JetStream: acknowledge only what is now durably in Redis.
        for (const ack of batch.acks) ack?.();
      },
      nextId: () => this.nextId(),
      isFatal: (error) => lostReason(error) !== undefined,
      onFatal: (error) => void options.onLost(lostReason(error) ?? 'error'),
      onRetry: (error, delayMs) => {
        metrics.writeErrors.inc();
        log.warn({ err: error, delayMs }, 'batch write failed; retrying the same batch');
      },
      maxPendingBytes: options.maxPendingBytes,
      maxPending: options.maxPending,
      onFull: (held) => {
        log.error(
          { ...held, maxBytes: options.maxPendingBytes, maxMessages: options.maxPending },
          'unwritten messages over the leader pending limit; stepping down so a standby with a working link takes over',
        );
        void options.onLost('pending_full');
      },
    });
    this.batcher = batcher;
    this.scheduler = new Scheduler({
      client: options.redis,
      keys: options.keys,
      fire: (tick) => routing.fireTick(tick),
      guard: (call) => lease.guard(call),
      // A failover: the lease runs out, a standby takes over (every lease/4) and runs its first upkeep.
      graceMs: 2 * options.leaseMs + 2 * options.reapIntervalMs,
      afterFire: () => {
        if (options.kickOnBacklog) batcher.kick();
      },
      metrics,
      log,
      isCurrent: options.isCurrent,
      onLost: (error) => options.onLost(lostReason(error) ?? 'error'),
    });
    this.dueWatch = new DueWatch({
      checkMs: options.dueCheckMs,
      nextDueInMs: () => this.routing.nextDueInMs(),
      onDue: () => this.reapNow(),
    });
  }

  get pendingCount(): number {
    return this.batcher.pendingCount;
  }

  add(received: Received): void {
    this.batcher.add(received);
  }

  /** Resolves when the batch in hand is written (or the term ended). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  startReaping(): void {
    this.reapTimer = setTimeout(() => void this.reapOnce(), this.options.reapIntervalMs);
    this.dueWatch.start();
    if (this.routing.release) this.releaseTimer = setTimeout(() => void this.releaseOnce(), 0);
    void this.scheduleUpkeep(() => this.scheduler.start());
  }

  /** The scheduler's takeover read and each upkeep's version check (errors: retried next upkeep). */
  private async scheduleUpkeep(step: () => Promise<void>): Promise<void> {
    try {
      await this.options.lease.guard(step);
    } catch (error) {
      const lost = lostReason(error);
      if (lost) await this.options.onLost(lost);
      else this.options.log.warn({ err: error }, 'schedule upkeep failed; will retry');
    }
  }

  /** Something delayed is due: reap now rather than at the next tick (one reap in flight at a time). */
  private reapNow(): void {
    if (!this.options.isCurrent()) return;
    if (this.reaping) {
      this.reapAgain = true;
      return;
    }
    clearTimeout(this.reapTimer);
    void this.reapOnce();
  }

  /**
   * Counts the takeover once intake switched to this term. `hadMarker`: the old leader had stored a
   * progress marker (false before the deployment's first write, when there is nothing to match).
   */
  recordTakeover(replayed: number, matched: boolean, hadMarker: boolean): void {
    const m = this.options.metrics;
    m.standbyBuffer.set(0);
    m.leader.set(1);
    m.leaderEpoch.set(this.epoch);
    m.elections.inc();
    m.replayed.inc(replayed);
    if (!matched && replayed > 0) m.replayUnmatched.inc();
    this.options.log.info(
      { epoch: this.epoch, replayed, markerMatched: matched, hadMarker },
      'elected leader',
    );
  }

  /**
   * Stops renewing, reaping and writing; returns what was not proven written, in arrival order
   * (counted as abandoned: the dispatcher keeps them in its buffer, or JetStream redelivers them).
   */
  end(reason: StepDownReason): Received[] {
    const { renewal, metrics: m, log } = this.options;
    renewal.stop();
    clearTimeout(this.reapTimer);
    this.dueWatch.stop();
    clearTimeout(this.releaseTimer);
    this.scheduler.stop();
    const left = this.batcher.stop();
    this.routing.clearGauges();
    if (left.length > 0) {
      m.abandoned.inc(left.length);
      log.warn({ count: left.length, reason }, 'unwritten messages kept in the standby buffer at step-down');
    }
    m.leader.set(0);
    m.leaderEpoch.set(0);
    m.stepdowns.inc({ reason });
    m.pending.set(0);
    log.warn({ reason, epoch: this.epoch }, 'stepped down');
    return left;
  }

  private nextId(): string {
    this.sequence += 1;
    return `${this.epoch.toString(36)}-${this.sequence.toString(36)}`;
  }

  /** One draw from the rate limit's bucket; the next is timed for the next token (not a slow tick). */
  private async releaseOnce(): Promise<void> {
    const release = this.routing.release;
    const { isCurrent, lease, kickOnBacklog, reapIntervalMs, log } = this.options;
    if (!release || !isCurrent()) return;
    let nextMs = reapIntervalMs;
    try {
      const result = await lease.guard(() => release());
      // Lists: released ids are in the backlog; a write routes them to queues with room now.
      if (kickOnBacklog && result.released > 0) this.batcher.kick();
      nextMs = result.nextMs;
    } catch (error) {
      const lost = lostReason(error);
      if (lost) {
        await this.options.onLost(lost);
        return;
      }
      log.warn({ err: error }, 'rate-limit release failed; will retry');
    }
    if (isCurrent()) this.releaseTimer = setTimeout(() => void this.releaseOnce(), nextMs);
  }

  private async reapOnce(): Promise<void> {
    const { isCurrent, lease, kickOnBacklog, reapIntervalMs, log } = this.options;
    if (!isCurrent()) return;
    clearTimeout(this.reapTimer);
    let more = false;
    this.reaping = true;
    try {
      const result = await lease.guard(() => this.routing.upkeep());
      if (kickOnBacklog && !result.paused && result.backlog > 0 && result.liveWorkers > 0)
        this.batcher.kick();
      more = result.more;
      await this.scheduleUpkeep(() => this.scheduler.upkeep());
    } catch (error) {
      const lost = lostReason(error);
      if (lost) {
        await this.options.onLost(lost);
        return;
      }
      log.warn({ err: error }, 'reap failed; will retry');
    } finally {
      this.reaping = false;
    }
    more ||= this.reapAgain;
    this.reapAgain = false;
    if (isCurrent()) this.reapTimer = setTimeout(() => void this.reapOnce(), more ? 0 : reapIntervalMs);
  }
}
