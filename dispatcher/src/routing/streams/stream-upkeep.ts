import { type Config, type DataClient, type Keys, type PartitionKeys, scripts } from '@redispatch/shared';
import type { DispatcherMetrics } from '../../metrics.js';
import type { UpkeepResult } from '../routing-mode.js';

/** What streams upkeep reads from the configuration. */
export type StreamUpkeepSettings = Pick<Config, 'workerTtlMs' | 'consumerGroup'>;

/** Most delayed messages one partition promotes per tick, so one call never blocks Redis for long. */
const PROMOTE_LIMIT = 1_000;

/**
 * Streams mode's leader upkeep, each tick: the live workers (dropping the silent ones), then one
 * fenced script call per partition, in parallel — promote due retries and delays, trim below the
 * oldest pending entry, remove consumers that are gone and own nothing, read the gauges.
 * Reclaiming stalled entries is the live workers' job (XPENDING IDLE + XCLAIM), so it needs no leader.
 */
export class StreamUpkeep {
  private knownPartitions = new Set<string>();

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly partitions: readonly PartitionKeys[],
    private readonly config: StreamUpkeepSettings,
    private readonly epoch: number,
    private readonly metrics: DispatcherMetrics,
  ) {}

  async run(): Promise<UpkeepResult> {
    const live = await scripts.liveWorkers(this.client, this.keys, { ttlMs: this.config.workerTtlMs });
    const liveIds = live.workers.map((w) => w.id);
    const replies = await Promise.all(
      this.partitions.map((p) =>
        scripts.streamMaintain(this.client, p, {
          epoch: this.epoch,
          group: this.config.consumerGroup,
          promoteLimit: PROMOTE_LIMIT,
          liveWorkers: liveIds,
        }),
      ),
    );
    let promoted = 0;
    let backlog = 0;
    let inflight = 0;
    let delayed = 0;
    let deadLetters = 0;
    let oldest = Number.POSITIVE_INFINITY;
    let nowMs = 0;
    const m = this.metrics;
    replies.forEach((reply, index) => {
      const partition = String(index);
      promoted += reply.promoted;
      m.streamTrimmed.inc(reply.trimmed);
      m.streamLength.set({ partition }, reply.length);
      m.streamPending.set({ partition }, reply.pending);
      inflight += reply.pending;
      // Redis reports lag -1 when it cannot tell (after deletions); count it as unknown, not zero.
      backlog += Math.max(0, reply.undelivered);
      delayed += reply.delayed;
      deadLetters += reply.deadLetters;
      nowMs = reply.nowMs;
      if (reply.oldestPendingMs >= 0) oldest = Math.min(oldest, reply.oldestPendingMs);
    });
    for (const gone of this.knownPartitions) {
      if (Number(gone) >= this.partitions.length) {
        m.streamLength.remove({ partition: gone });
        m.streamPending.remove({ partition: gone });
      }
    }
    this.knownPartitions = new Set(this.partitions.map((p) => String(p.index)));
    m.backlog.set(backlog);
    m.inflight.set(inflight);
    m.delayed.set(delayed);
    m.deadLetters.set(deadLetters);
    m.liveWorkers.set(liveIds.length);
    m.oldestInflightAge.set(Number.isFinite(oldest) ? Math.max(0, (nowMs - oldest) / 1000) : 0);
    return { liveWorkers: liveIds.length, backlog, more: promoted >= PROMOTE_LIMIT };
  }

  /** Ms until the earliest delayed entry over all partitions is due (one read per partition, in parallel). */
  async nextDueInMs(): Promise<number | undefined> {
    const waits = await Promise.all(this.partitions.map((p) => scripts.delayedHead(this.client, p)));
    let earliest: number | undefined;
    for (const wait of waits)
      if (wait !== undefined && (earliest === undefined || wait < earliest)) earliest = wait;
    return earliest;
  }

  clearGauges(): void {
    const m = this.metrics;
    for (const gauge of [m.backlog, m.inflight, m.delayed, m.deadLetters, m.liveWorkers, m.oldestInflightAge])
      gauge.set(0);
    m.streamLength.reset();
    m.streamPending.reset();
  }
}
