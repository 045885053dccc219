import {
  type CloseStep,
  createKeys,
  createLogger,
  type Logger,
  type Readiness,
  runCloseSteps,
} from '@redispatch/shared';
import { Registry } from 'prom-client';
import { FailureLog } from './failure-log.js';
import { type HandlerRunner, inProcessRunner } from './handler-runner.js';
import { HandlerSlots } from './handler-slots.js';
import { HeartbeatLoop } from './heartbeat-loop.js';
import { ProcessPool } from './isolate/pool.js';
import { ListsTransport } from './lists-transport.js';
import { createIsolateMetrics, createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { ProcessSpans } from './process-spans.js';
import { StreamsTransport } from './streams/streams-transport.js';
import type { Transport } from './transport.js';
import {
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
  validateWorkerOptions,
  type WorkerOptions,
} from './worker-options.js';

export type { WorkerOptions } from './worker-options.js';

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
  private readonly slots: HandlerSlots;
  private readonly heartbeat: HeartbeatLoop;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

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
    this.metrics = createWorkerMetrics(this.registry, () => this.slots.active);
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
    this.heartbeat = new HeartbeatLoop(
      () => this.transport.heartbeat(),
      o.heartbeatMs,
      () => this.state === 'running' || this.state === 'draining',
      this.log,
    );
    this.slots = new HandlerSlots({
      options: o,
      transport: this.transport,
      runner: this.runner,
      spans: this.spans,
      metrics: this.metrics,
      failureLog: this.failureLog,
      log: this.log,
      taking: () => this.state === 'running',
    });
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
    this.heartbeat.start();
    this.sweepTimer = setInterval(
      () => this.slots.sweepDeadlines(),
      Math.max(10, Math.min(250, this.options.ackTimeoutMs / 10)),
    );
    this.sweepTimer.unref();
    this.loop = this.transport.run(this.slots.host);
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
    this.slots.wakeTakers();
    const { drainTimeoutMs, commandTimeoutMs } = this.options;
    const steps: CloseStep[] = [
      ['take loop', () => this.loop ?? Promise.resolve()],
      ['finish in-flight', () => this.slots.waitForHandlers(drainTimeoutMs)],
      // Handler processes go after the drain; what they still held is nacked and settled next.
      ['stop handler processes', () => this.runner.close()],
      ['settle', () => this.transport.drain(commandTimeoutMs * 2)],
      // Heartbeats go on through the drain (a drain longer than the worker TTL must not get us declared
      // dead and our in-flight work redelivered); they stop only now.
      ['stop heartbeats', async () => this.heartbeat.stop()],
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
    this.slots.abortAll(new Error('worker stopped'));
    if (this.state !== 'failed') this.state = 'stopped';
    this.failureLog.flush();
    this.log.info({ unfinished: this.slots.unfinished }, 'worker stopped');
  }
}
