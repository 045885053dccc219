import { type Config, type Keys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { DispatcherMetrics } from '../../metrics.js';
import type { KeyGate } from './key-gate.js';

/** Most entries of each kind one reap call handles, so one call never blocks Redis for long. */
const REAP_LIMIT = 1_000;

/** What the reaper reads from the configuration: nothing else, so its inputs are plain to see. */
export type ReaperSettings = Pick<Config, 'workerTtlMs' | 'maxAttempts' | 'ackTimeoutMs'>;

export interface ReapResult {
  liveWorkers: { id: string; queued: number }[];
  backlog: number;
  /** True when a limit was hit and another pass should follow at once. */
  more: boolean;
}

/**
 * The leader's reaper: one fenced script call per tick reassigns dead workers' messages, redelivers
 * expired claims, promotes due delayed messages, and reports live workers and cluster gauges.
 */
export class Reaper {
  private knownQueueLabels = new Set<string>();

  constructor(
    private readonly redis: Redis,
    /** The keys to reap with now (flow control swaps the backlog for the held list while paused). */
    private readonly keys: () => Keys,
    private readonly config: ReaperSettings,
    private readonly epoch: number,
    private readonly metrics: DispatcherMetrics,
    /** Counts due delayed messages a per-key limit held back. */
    private readonly keyGate: KeyGate,
  ) {}

  async reap(): Promise<ReapResult> {
    const {
      deadWorkers,
      timedOut,
      workerLost,
      deadLettered,
      promoted,
      backlog,
      inflight,
      delayed,
      deadLetters,
      nowMs,
      earliestDeadline,
      keyHeldConcurrency,
      keyHeldRate,
      liveWorkers,
    } = await scripts.reap(this.redis, this.keys(), {
      epoch: this.epoch,
      workerTtlMs: this.config.workerTtlMs,
      maxAttempts: this.config.maxAttempts,
      limit: REAP_LIMIT,
    });
    const m = this.metrics;
    m.redelivered.inc({ reason: 'timeout' }, timedOut);
    m.redelivered.inc({ reason: 'worker_lost' }, workerLost);
    m.deadLettered.inc(deadLettered);
    this.keyGate.countHeld(keyHeldConcurrency, keyHeldRate);
    m.backlog.set(backlog);
    m.inflight.set(inflight);
    m.delayed.set(delayed);
    m.deadLetters.set(deadLetters);
    m.liveWorkers.set(liveWorkers.length);
    m.oldestInflightAge.set(
      earliestDeadline < 0 ? 0 : Math.max(0, (nowMs - (earliestDeadline - this.config.ackTimeoutMs)) / 1000),
    );
    const labels = new Set(liveWorkers.map((w) => w.id));
    for (const gone of this.knownQueueLabels) if (!labels.has(gone)) m.workerQueue.remove({ worker: gone });
    for (const worker of liveWorkers) m.workerQueue.set({ worker: worker.id }, worker.queued);
    this.knownQueueLabels = labels;
    const more = Math.max(deadWorkers, timedOut + workerLost + deadLettered, promoted) >= REAP_LIMIT;
    return { liveWorkers, backlog, more };
  }

  /** Zeroes the cluster-wide gauges when this process stops leading (only the leader exports them). */
  clearGauges(): void {
    const m = this.metrics;
    for (const gauge of [m.backlog, m.inflight, m.delayed, m.deadLetters, m.liveWorkers, m.oldestInflightAge])
      gauge.set(0);
    m.workerQueue.reset();
    this.knownQueueLabels.clear();
  }
}
