import { performance } from 'node:perf_hooks';
import type { Span } from '@opentelemetry/api';
import { HandlerTimeoutError, type Logger, replyBytes } from '@redispatch/shared';
import { boundObserver, type Observe } from './bound-observer.js';
import { type ClaimExtender, DeliveredMessage } from './delivered-message.js';
import type { FailureLog } from './failure-log.js';
import { type DeadlineSettings, HandlerDeadline } from './handler-deadline.js';
import type { HandlerRunner } from './handler-runner.js';
import type { WorkerMetrics } from './metrics.js';
import { PrefetchQueue } from './prefetch-queue.js';
import type { ProcessSpans } from './process-spans.js';
import { pendingReplies } from './replies.js';
import { backoffMs, nackDelay, retryPlan } from './retry-steering.js';
import type { PendingReply } from './settler.js';
import type { Delivery, Transport, TransportHost } from './transport.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** A nack delay that dead-letters at once, with the error as the reason (settle scripts). */
const DEAD_LETTER_NOW = -1;

/** The handler duration's label sets, made once (not an object per message). */
const ACK = { outcome: 'ack' } as const;
const NACK = { outcome: 'nack' } as const;
const TIMEOUT = { outcome: 'timeout' } as const;

const RESOLVED = Promise.resolve();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** What the handler slots work with: the worker's options and parts. */
export interface HandlerSlotsSettings {
  options: ResolvedWorkerOptions;
  transport: Transport;
  runner: HandlerRunner;
  spans: ProcessSpans;
  metrics: WorkerMetrics;
  failureLog: FailureLog;
  log: Logger;
  /** False once the worker stops taking messages. */
  taking(): boolean;
}

/**
 * The worker's handler slots: what it takes (`host`), the handlers running with their deadlines, the
 * prefetched messages waiting for a slot, and how each handler's end settles its message (ack, nack,
 * or left to the leader's redelivery at the deadline).
 */
export class HandlerSlots {
  /** Handlers running now. */
  active = 0;
  /** Take loops waiting for a free handler slot (streams mode runs one per partition). */
  private slotWaiters: (() => void)[] = [];
  /**
   * Handlers in progress, each with its local ack deadline (monotonic clock). By delivery, not by id:
   * the leader redelivers at the server-side deadline, a little before ours, so the next attempt of a
   * message can start here while the last one still runs.
   */
  private readonly running = new Set<DeliveredMessage>();
  /** Process spans of running handlers (only while tracing is on). */
  private readonly openSpans = new Map<DeliveredMessage, Span>();
  private readonly deadlineSettings: DeadlineSettings;
  /** What `msg.extend` calls (one object for all messages: no closure per delivery). */
  private readonly claims: ClaimExtender = {
    extendClaim: (delivered, ms) => this.extendClaim(delivered, ms),
  };
  /** Claimed (prefetched) messages waiting for a handler slot, oldest first. */
  private readonly ready = new PrefetchQueue();
  /** Handler durations of acked messages, observed without prom-client's per-call label hashing. */
  private readonly observeAck: Observe;
  private readonly observeEndToEnd: Observe;

  constructor(private readonly settings: HandlerSlotsSettings) {
    const o = settings.options;
    this.deadlineSettings = {
      ackTimeoutMs: o.ackTimeoutMs,
      handlerTimeoutMs: o.handlerTimeoutMs,
      autoExtend: o.autoExtend,
      extendReachMs: settings.transport.extendReachMs,
    };
    this.observeAck = boundObserver(settings.metrics.handlerDuration, ACK);
    this.observeEndToEnd = boundObserver(settings.metrics.endToEnd, {});
  }

  /** Synchronous handlers that returned, settled together on the next microtask (in order). */
  private finishedSync: DeliveredMessage[] = [];
  private finishedSyncValues: unknown[] = [];
  private readonly finishSync = () => {
    const finished = this.finishedSync;
    const values = this.finishedSyncValues;
    this.finishedSync = [];
    this.finishedSyncValues = [];
    for (let i = 0; i < finished.length; i++) {
      try {
        this.finish(finished[i] as DeliveredMessage, undefined, values[i]);
      } catch (error) {
        // As when each had its own promise: an unhandled rejection, and the others still settle.
        void Promise.reject(error);
      }
    }
  };

  /** Handlers still running. */
  get unfinished(): number {
    return this.running.size;
  }

  /** Wakes the take loops waiting for a slot (the worker stops taking). */
  wakeTakers(): void {
    for (const wake of this.slotWaiters.splice(0)) wake();
  }

  /** Aborts the signal of every handler still running. */
  abortAll(reason: Error): void {
    for (const delivered of this.running) DeliveredMessage.abort(delivered, reason);
  }

  /** What the transport sees of this worker while it takes messages. */
  readonly host: TransportHost = {
    // Room for prefetched messages too: they wait in `ready` for a handler slot.
    free: () =>
      this.settings.options.concurrency + this.settings.options.prefetch - this.active - this.ready.length,
    waitForSlot: () =>
      new Promise<void>((resolve) => {
        this.slotWaiters.push(resolve);
      }),
    taking: () => this.settings.taking(),
    accept: (deliveries) => {
      const claimedAt = Date.now();
      for (const delivery of deliveries) {
        if (this.active < this.settings.options.concurrency) this.run(delivery, claimedAt);
        else
          this.ready.push({
            delivery,
            claimedAt,
            expireAt: performance.now() + this.settings.options.ackTimeoutMs,
          });
      }
    },
  };

  private run(delivery: Delivery, claimedAt: number): void {
    const delivered = new DeliveredMessage(delivery, claimedAt, this.claims);
    const header = delivered.header;
    if (header?.expiresAt !== undefined && header.expiresAt <= Date.now()) {
      // Past the publisher's expiry: dead-lettered at once with reason `expired`, never handled.
      DeliveredMessage.settle(delivered);
      this.settings.transport.nack(delivery, DEAD_LETTER_NOW, 'expired');
      return;
    }
    const span = this.settings.spans.start(delivered, delivery.previousAttempt);
    if (span) this.openSpans.set(delivered, span);
    this.active += 1;
    // The message's own timeout (header.timeoutMs) overrides the handler timeout for this message.
    const deadline = new HandlerDeadline(performance.now(), this.deadlineSettings, header?.timeoutMs);
    DeliveredMessage.startDeadline(delivered, deadline);
    // At the deadline the leader redelivers; free the slot so a hung handler cannot starve the worker.
    // One sweep timer checks every running handler, instead of one timer per message.
    this.running.add(delivered);
    try {
      const result = span
        ? this.settings.spans.within(span, () => this.settings.runner.run(delivered))
        : this.settings.runner.run(delivered);
      if (isThenable(result)) {
        Promise.resolve(result).then(
          (value: unknown) => this.finish(delivered, undefined, value),
          (error: unknown) => this.finish(delivered, error ?? new Error('handler rejected')),
        );
      } else {
        // A synchronous handler settles on a microtask, as a resolved promise would; one microtask for
        // all that finish in a turn (queueMicrotask made an AsyncResource per call: ~30% of a worker).
        if (this.finishedSync.length === 0) void RESOLVED.then(this.finishSync);
        this.finishedSync.push(delivered);
        this.finishedSyncValues.push(result);
      }
    } catch (error) {
      this.finish(delivered, error ?? new Error('handler threw'));
    }
  }

  /** Extensions (msg.extend and the auto-extension sweep) move the deadline only while we own the claim. */
  private async extendClaim(delivered: DeliveredMessage, ms: number): Promise<boolean> {
    const sentAt = performance.now();
    const extended = await this.settings.transport.extend(DeliveredMessage.delivery(delivered), ms);
    if (extended && !DeliveredMessage.settled(delivered))
      DeliveredMessage.deadline(delivered)?.extended(sentAt, ms);
    return extended;
  }

  /** The handler finished: ack (with its replies and result) or nack, then free its slot. */
  private finish(delivered: DeliveredMessage, error: unknown, value?: unknown): void {
    if (DeliveredMessage.settled(delivered)) return;
    const { id, attempt, header } = delivered;
    const delivery = DeliveredMessage.delivery(delivered);
    let pending: PendingReply[] | undefined;
    let result: Buffer | undefined;
    if (error === undefined) {
      try {
        pending = pendingReplies(
          this.settings.metrics,
          id,
          header?.replyTo,
          DeliveredMessage.replies(delivered),
          value,
        );
        result = this.resultOf(value);
      } catch (replyError) {
        // A resolved value that cannot be encoded is the handler's bug: nack it with the reason.
        error = replyError;
      }
    }
    DeliveredMessage.settle(delivered);
    const started = DeliveredMessage.deadline(delivered)?.started ?? performance.now();
    const seconds = (performance.now() - started) / 1000;
    if (error === undefined) {
      this.observeAck(seconds);
      // Publish to handled-and-acked (the ack itself flushes within this event-loop turn).
      const publishedAt = header?.timestamp;
      if (publishedAt !== undefined) this.observeEndToEnd(Math.max(0, Date.now() - publishedAt) / 1000);
      this.settings.transport.ack(delivery, pending, result);
    } else {
      this.settings.metrics.handlerDuration.observe(NACK, seconds);
      // UnrecoverableError dead-letters now; a numeric `retryAfterMs` replaces the backoff.
      const plan = retryPlan(error);
      this.settings.failureLog.failed(id, attempt, error, plan.text, header?.attempts);
      const { backoffBaseMs, backoffMaxMs } = this.settings.options;
      const delayMs = nackDelay(plan, () => backoffMs(attempt, backoffBaseMs, backoffMaxMs));
      const failedSpan = this.openSpans.size === 0 ? undefined : this.openSpans.get(delivered)?.spanContext();
      this.settings.transport.nack(delivery, delayMs, plan.withStack, failedSpan);
    }
    this.endSpan(delivered, error);
    this.release(delivered);
  }

  /** The handler ran into its deadline (which limit decides whether its message is nacked here). */
  private expire(delivered: DeliveredMessage, deadline: HandlerDeadline): void {
    if (DeliveredMessage.settled(delivered)) return;
    const timeoutMs = deadline.timeoutMs;
    if (deadline.reached === 'message-timeout') {
      // Its own timeout, below the ack timeout: the claim is still ours, so it is nacked (and retried) now.
      this.finish(delivered, new HandlerTimeoutError(timeoutMs));
      DeliveredMessage.abort(delivered, new HandlerTimeoutError(timeoutMs));
      this.settings.metrics.timeouts.inc();
      return;
    }
    // The claim is lost (or about to be): the leader redelivers; only the slot is freed here.
    DeliveredMessage.settle(delivered);
    DeliveredMessage.abort(delivered, new HandlerTimeoutError(timeoutMs));
    this.settings.metrics.timeouts.inc();
    this.settings.metrics.handlerDuration.observe(TIMEOUT, (performance.now() - deadline.started) / 1000);
    this.settings.failureLog.timedOut(delivered.id, delivered.attempt, timeoutMs);
    this.endSpan(delivered, new HandlerTimeoutError(timeoutMs));
    this.release(delivered);
  }

  private autoExtend(delivered: DeliveredMessage, deadline: HandlerDeadline): void {
    const ms = deadline.autoExtension(performance.now());
    if (ms === undefined || DeliveredMessage.settled(delivered)) return;
    const { id, attempt } = delivered;
    this.extendClaim(delivered, ms).then(
      (extended) => {
        if (!extended) this.settings.log.warn({ id, attempt }, 'auto-extend: the claim is no longer ours');
      },
      (error: unknown) => this.settings.log.warn({ err: error, id, attempt }, 'auto-extend failed; retrying'),
    );
  }

  private endSpan(delivered: DeliveredMessage, error: unknown): void {
    if (this.openSpans.size === 0) return;
    const span = this.openSpans.get(delivered);
    if (span === undefined) return;
    this.openSpans.delete(delivered);
    this.settings.spans.end(span, delivered.id, error);
  }

  /** Expires handlers past their deadline and auto-extends the others' claims (one sweep timer). */
  sweepDeadlines(): void {
    const now = performance.now();
    this.dropExpiredPrefetched(now);
    // Handlers started during the sweep (a freed slot) are visited too: their fresh deadlines pass.
    for (const delivered of this.running) {
      const deadline = DeliveredMessage.deadline(delivered);
      if (deadline === undefined) continue;
      if (deadline.expireAt <= now) this.expire(delivered, deadline);
      else if (this.settings.options.autoExtend) this.autoExtend(delivered, deadline);
    }
  }

  /** The results stream's entry for a resolved value (empty when it resolved to nothing), or none when off. */
  private resultOf(value: unknown): Buffer | undefined {
    if (this.settings.options.results !== 'stream') return undefined;
    return replyBytes(value)?.payload ?? Buffer.alloc(0);
  }

  /**
   * Prefetched messages whose claim expired are left to the leader's redelivery, and counted as
   * handler timeouts. Both the sweep and a freed slot drop them: after a stall (a blocked event loop,
   * SIGSTOP) either can come first.
   */
  private dropExpiredPrefetched(now: number): void {
    const dropped = this.ready.dropExpired(now);
    if (dropped > 0) this.settings.metrics.timeouts.inc(dropped);
  }

  private release(delivered: DeliveredMessage): void {
    this.running.delete(delivered);
    this.active -= 1;
    // A prefetched message takes the freed slot first (also while draining: it is already claimed).
    this.dropExpiredPrefetched(performance.now());
    while (this.ready.length > 0 && this.active < this.settings.options.concurrency) {
      const next = this.ready.shift();
      if (next) this.run(next.delivery, next.claimedAt);
    }
    if (this.slotWaiters.length > 0) for (const wake of this.slotWaiters.splice(0)) wake();
    if (this.active === 0 && this.ready.length === 0) this.drainWaiter?.();
  }

  private drainWaiter: (() => void) | undefined;

  /** Resolves when no handler runs and nothing waits for a slot, or after `timeoutMs` (logged). */
  async waitForHandlers(timeoutMs: number): Promise<void> {
    if (this.active === 0 && this.ready.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.drainWaiter = resolve;
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.settings.log.warn(
            { unfinished: this.active },
            'drain timeout: leaving unfinished messages to redelivery',
          );
          resolve();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
