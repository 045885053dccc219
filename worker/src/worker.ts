import { performance } from 'node:perf_hooks';
import type { Span } from '@opentelemetry/api';
import {
  type CloseStep,
  createKeys,
  createLogger,
  HandlerTimeoutError,
  type Logger,
  type Readiness,
  replyBytes,
  runCloseSteps,
} from '@redispatch/shared';
import { Registry } from 'prom-client';
import { type ClaimExtender, DeliveredMessage } from './delivered-message.js';
import { FailureLog } from './failure-log.js';
import { type DeadlineSettings, HandlerDeadline } from './handler-deadline.js';
import { type HandlerRunner, inProcessRunner } from './handler-runner.js';
import { ProcessPool } from './isolate/pool.js';
import { ListsTransport } from './lists-transport.js';
import { createIsolateMetrics, createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { ProcessSpans } from './process-spans.js';
import { pendingReplies } from './replies.js';
import { backoffMs, nackDelay, retryPlan } from './retry-steering.js';
import type { PendingReply } from './settler.js';
import { StreamsTransport } from './streams/streams-transport.js';
import type { Delivery, Transport, TransportHost } from './transport.js';
import {
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
  validateWorkerOptions,
  type WorkerOptions,
} from './worker-options.js';

export type { WorkerOptions } from './worker-options.js';

/** A nack delay that dead-letters at once, with the error as the reason (settle scripts). */
const DEAD_LETTER_NOW = -1;

/** The handler duration's label sets, made once (not an object per message). */
const ACK = { outcome: 'ack' } as const;
const NACK = { outcome: 'nack' } as const;
const TIMEOUT = { outcome: 'timeout' } as const;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** What stopping the handler processes may take in a close, beyond the drain. */
const HANDLER_PROCESS_STOP_MS = 2_000;

/**
 * Lifecycle:
 * - `idle`: constructed, not started.
 * - `running`: registered, taking and handling messages.
 * - `draining`: close() called: takes nothing new, finishes what it holds within the grace period.
 * - `stopped`: deregistered and disconnected.
 * - `failed`: start() failed; close() still cleans up.
 */
export type WorkerState = 'idle' | 'running' | 'draining' | 'stopped' | 'failed';

export class Worker {
  state: WorkerState = 'idle';
  readonly id: string;
  private readonly options: ResolvedWorkerOptions;
  private readonly log: Logger;
  /** Failed, hung and dead-lettered messages, rate-limited so a poison storm cannot flood the log. */
  private readonly failureLog: FailureLog;
  private readonly metrics: WorkerMetrics;
  readonly registry: Registry;
  private readonly transport: Transport;
  private readonly runner: HandlerRunner;
  private readonly spans: ProcessSpans;
  private active = 0;
  /** Take loops waiting for a free handler slot (streams mode runs one per partition). */
  private slotWaiters: (() => void)[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
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
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Claimed (prefetched) messages waiting for a handler slot, oldest first. */
  private ready: { delivery: Delivery; claimedAt: number; expireAt: number }[] = [];

  /** Throws a ConfigError naming each bad option and its REDISPATCH_* variable (the CLI's checks). */
  constructor(options: WorkerOptions) {
    validateWorkerOptions(options);
    this.options = resolveWorkerOptions(options);
    this.id = this.options.id;
    const keys = createKeys(this.options.prefix);
    this.log = (options.logger ?? createLogger('info')).child({ component: 'worker', instanceId: this.id });
    this.failureLog = new FailureLog(this.log, this.options.maxAttempts);
    this.spans = new ProcessSpans(this.options.prefix);
    this.registry = options.registry ?? new Registry();
    this.metrics = createWorkerMetrics(this.registry, () => this.active);
    if (options.isolate && options.handler)
      throw new Error('worker options: give either handler or isolate, not both');
    if (options.isolate) {
      this.runner = new ProcessPool({
        ...options.isolate,
        concurrency: this.options.concurrency,
        log: this.log,
        metrics: createIsolateMetrics(this.registry),
      });
    } else if (options.handler) this.runner = inProcessRunner(options.handler);
    else throw new Error('worker options: a handler (or isolate.module) is required');
    const o = this.options;
    const common = {
      redisUrl: o.redisUrl,
      tls: o.tls,
      commandTimeoutMs: o.commandTimeoutMs,
      keys,
      workerId: this.id,
      ackTimeoutMs: o.ackTimeoutMs,
      maxAttempts: o.maxAttempts,
      prefetch: o.prefetch,
      // Off: no result is made and no settle call carries a results section (nothing on the hot path).
      resultsMaxLen: o.results === 'stream' ? o.resultsMaxLen : undefined,
      metrics: this.metrics,
      log: this.log,
    };
    this.transport =
      o.mode === 'streams'
        ? new StreamsTransport({
            ...common,
            clusterNodes: o.clusterNodes,
            clusterNatMap: o.clusterNatMap,
            prefix: o.prefix,
            partitions: o.partitions,
            group: o.consumerGroup,
            outboundMax: o.outboundMax,
          })
        : new ListsTransport({ ...common, prefix: o.prefix, outboundMax: o.outboundMax });
    this.deadlineSettings = {
      ackTimeoutMs: o.ackTimeoutMs,
      handlerTimeoutMs: o.handlerTimeoutMs,
      autoExtend: o.autoExtend,
      extendReachMs: this.transport.extendReachMs,
    };
    if (this.options.tls.insecure) {
      this.log.warn(
        'TLS certificate verification is DISABLED (REDISPATCH_TLS_INSECURE=true); never use this in production',
      );
    }
  }

  readiness(): Readiness {
    return { ready: this.state === 'running' && this.transport.connected(), state: this.state };
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`worker ${this.id} cannot start from state ${this.state}`);
    try {
      // Handler processes first: a module that cannot load fails the start before we register.
      await this.runner.start();
      await this.transport.start();
    } catch (error) {
      this.state = 'failed';
      throw error;
    }
    this.state = 'running';
    this.scheduleHeartbeat();
    this.sweepTimer = setInterval(
      () => this.sweepDeadlines(),
      Math.max(10, Math.min(250, this.options.ackTimeoutMs / 10)),
    );
    this.sweepTimer.unref();
    this.loop = this.transport.run(this.host);
    this.log.info(
      { concurrency: this.options.concurrency, prefix: this.options.prefix, mode: this.options.mode },
      'worker registered',
    );
  }

  /** Stops taking, finishes in-flight work within the grace period, settles, deregisters. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = this.state === 'failed' ? 'failed' : 'draining';
    this.transport.interrupt();
    for (const wake of this.slotWaiters.splice(0)) wake();
    const { drainTimeoutMs, commandTimeoutMs } = this.options;
    const steps: CloseStep[] = [
      ['take loop', () => this.loop ?? Promise.resolve()],
      ['finish in-flight', () => this.waitForHandlers(drainTimeoutMs)],
      // Handler processes go after the drain; what they still held is nacked and settled next.
      ['stop handler processes', () => this.runner.close()],
      ['settle', () => this.transport.drain(commandTimeoutMs * 2)],
      // Heartbeats go on through the drain (a drain longer than the worker TTL must not get us declared
      // dead and our in-flight work redelivered); they stop only now.
      ['stop heartbeats', async () => clearTimeout(this.heartbeatTimer)],
      // 'leave' marks us dead now: the leader reassigns our queue (and anything unfinished) on its next reap.
      ['deregister', () => (wasRunning ? this.transport.leave() : Promise.resolve())],
      ['quit', () => this.transport.close()],
    ];
    // Bounded (guarantee 9): the drain, the settle's own bound, one command each to deregister and
    // quit, and a little for the handler processes to exit.
    const budgetMs = drainTimeoutMs + 4 * commandTimeoutMs + HANDLER_PROCESS_STOP_MS;
    const outcome = await runCloseSteps(steps, { log: this.log, budgetMs });
    if (outcome.kind === 'incomplete')
      this.log.warn(
        { failed: outcome.failed, timedOut: outcome.timedOut },
        'worker stopped with steps left undone',
      );
    clearInterval(this.sweepTimer);
    for (const delivered of this.running) DeliveredMessage.abort(delivered, new Error('worker stopped'));
    if (this.state !== 'failed') this.state = 'stopped';
    this.failureLog.flush();
    this.log.info({ unfinished: this.running.size }, 'worker stopped');
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(async () => {
      if (this.state !== 'running' && this.state !== 'draining') return;
      try {
        const known = await this.transport.heartbeat();
        if (!known)
          this.log.warn(
            're-registered: the leader had declared this worker dead (its claims were redelivered)',
          );
      } catch (error) {
        this.log.warn({ err: error }, 'heartbeat failed');
      }
      if (this.state === 'running' || this.state === 'draining') this.scheduleHeartbeat();
    }, this.options.heartbeatMs);
  }

  /** What the transport sees of this worker while it takes messages. */
  private readonly host: TransportHost = {
    // Room for prefetched messages too: they wait in `ready` for a handler slot.
    free: () => this.options.concurrency + this.options.prefetch - this.active - this.ready.length,
    waitForSlot: () =>
      new Promise<void>((resolve) => {
        this.slotWaiters.push(resolve);
      }),
    taking: () => this.state === 'running',
    accept: (deliveries) => {
      const claimedAt = Date.now();
      for (const delivery of deliveries) {
        if (this.active < this.options.concurrency) this.run(delivery, claimedAt);
        else
          this.ready.push({ delivery, claimedAt, expireAt: performance.now() + this.options.ackTimeoutMs });
      }
    },
  };

  private run(delivery: Delivery, claimedAt: number): void {
    const delivered = new DeliveredMessage(delivery, claimedAt, this.claims);
    const header = delivered.header;
    if (header?.expiresAt !== undefined && header.expiresAt <= Date.now()) {
      // Past the publisher's expiry: dead-lettered at once with reason `expired`, never handled.
      DeliveredMessage.settle(delivered);
      this.transport.nack(delivery, DEAD_LETTER_NOW, 'expired');
      return;
    }
    const span = this.spans.start(delivered);
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
        ? this.spans.within(span, () => this.runner.run(delivered))
        : this.runner.run(delivered);
      if (isThenable(result)) {
        Promise.resolve(result).then(
          (value: unknown) => this.finish(delivered, undefined, value),
          (error: unknown) => this.finish(delivered, error ?? new Error('handler rejected')),
        );
      } else {
        // A synchronous handler settles on the next microtask, as a resolved promise would.
        queueMicrotask(() => this.finish(delivered, undefined, result));
      }
    } catch (error) {
      this.finish(delivered, error ?? new Error('handler threw'));
    }
  }

  /** Extensions (msg.extend and the auto-extension sweep) move the deadline only while we own the claim. */
  private async extendClaim(delivered: DeliveredMessage, ms: number): Promise<boolean> {
    const sentAt = performance.now();
    const extended = await this.transport.extend(DeliveredMessage.delivery(delivered), ms);
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
          this.metrics,
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
      this.metrics.handlerDuration.observe(ACK, seconds);
      // Publish to handled-and-acked (the ack itself flushes within this event-loop turn).
      const publishedAt = header?.timestamp;
      if (publishedAt !== undefined)
        this.metrics.endToEnd.observe(Math.max(0, Date.now() - publishedAt) / 1000);
      this.transport.ack(delivery, pending, result);
    } else {
      this.metrics.handlerDuration.observe(NACK, seconds);
      // UnrecoverableError dead-letters now; a numeric `retryAfterMs` replaces the backoff.
      const plan = retryPlan(error);
      this.failureLog.failed(id, attempt, error, plan.text, header?.attempts);
      const { backoffBaseMs, backoffMaxMs } = this.options;
      const delayMs = nackDelay(plan, () => backoffMs(attempt, backoffBaseMs, backoffMaxMs));
      this.transport.nack(delivery, delayMs, plan.withStack);
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
      this.metrics.timeouts.inc();
      return;
    }
    // The claim is lost (or about to be): the leader redelivers; only the slot is freed here.
    DeliveredMessage.settle(delivered);
    DeliveredMessage.abort(delivered, new HandlerTimeoutError(timeoutMs));
    this.metrics.timeouts.inc();
    this.metrics.handlerDuration.observe(TIMEOUT, (performance.now() - deadline.started) / 1000);
    this.failureLog.timedOut(delivered.id, delivered.attempt, timeoutMs);
    this.endSpan(delivered, new HandlerTimeoutError(timeoutMs));
    this.release(delivered);
  }

  private autoExtend(delivered: DeliveredMessage, deadline: HandlerDeadline): void {
    const ms = deadline.autoExtension(performance.now());
    if (ms === undefined || DeliveredMessage.settled(delivered)) return;
    const { id, attempt } = delivered;
    this.extendClaim(delivered, ms).then(
      (extended) => {
        if (!extended) this.log.warn({ id, attempt }, 'auto-extend: the claim is no longer ours');
      },
      (error: unknown) => this.log.warn({ err: error, id, attempt }, 'auto-extend failed; retrying'),
    );
  }

  private endSpan(delivered: DeliveredMessage, error: unknown): void {
    if (this.openSpans.size === 0) return;
    const span = this.openSpans.get(delivered);
    if (span === undefined) return;
    this.openSpans.delete(delivered);
    this.spans.end(span, delivered.id, error);
  }

  private sweepDeadlines(): void {
    const now = performance.now();
    this.dropExpiredPrefetched(now);
    // Handlers started during the sweep (a freed slot) are visited too: their fresh deadlines pass.
    for (const delivered of this.running) {
      const deadline = DeliveredMessage.deadline(delivered);
      if (deadline === undefined) continue;
      if (deadline.expireAt <= now) this.expire(delivered, deadline);
      else if (this.options.autoExtend) this.autoExtend(delivered, deadline);
    }
  }

  /** The results stream's entry for a resolved value (empty when it resolved to nothing), or none when off. */
  private resultOf(value: unknown): Buffer | undefined {
    if (this.options.results !== 'stream') return undefined;
    return replyBytes(value)?.payload ?? Buffer.alloc(0);
  }

  /**
   * Prefetched messages whose claim expired are left to the leader's redelivery, and counted as
   * handler timeouts. Both the sweep and a freed slot drop them: after a stall (a blocked event loop,
   * SIGSTOP) either can come first.
   */
  private dropExpiredPrefetched(now: number): void {
    // `ready` is oldest first, so the head says whether anything expired.
    if ((this.ready[0]?.expireAt ?? Infinity) > now) return;
    const before = this.ready.length;
    this.ready = this.ready.filter((entry) => entry.expireAt > now);
    this.metrics.timeouts.inc(before - this.ready.length);
  }

  private release(delivered: DeliveredMessage): void {
    this.running.delete(delivered);
    this.active -= 1;
    // A prefetched message takes the freed slot first (also while draining: it is already claimed).
    this.dropExpiredPrefetched(performance.now());
    while (this.ready.length > 0 && this.active < this.options.concurrency) {
      const next = this.ready.shift();
      if (next) this.run(next.delivery, next.claimedAt);
    }
    for (const wake of this.slotWaiters.splice(0)) wake();
    if (this.active === 0 && this.ready.length === 0) this.drainWaiter?.();
  }

  private drainWaiter: (() => void) | undefined;

  private async waitForHandlers(timeoutMs: number): Promise<void> {
    if (this.active === 0 && this.ready.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.drainWaiter = resolve;
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.log.warn(
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
