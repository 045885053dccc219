import { type Config, type DataClient, FencedError, type Keys, type PartitionKeys } from '@redispatch/shared';
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
    const live = await this.client.rdLiveWorkers(this.keys.workers, this.config.workerTtlMs);
    const liveIds: string[] = [];
    for (let i = 2; i + 1 < live.length; i += 2) liveIds.push(String(live[i]));
    const replies = await Promise.all(
      this.partitions.map((p) =>
        this.client.rdStreamMaintain(
          p.fence,
          p.stream,
          p.delayed,
          p.delayedBody,
          p.delayedAttempts,
          p.dlq,
          p.errors,
          String(this.epoch),
          this.config.consumerGroup,
          PROMOTE_LIMIT,
          ...liveIds,
        ),
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
      if (reply[0] === -1) throw new FencedError(this.epoch);
      const n = (i: number) => Number(reply[i] ?? 0);
      const partition = String(index);
      promoted += n(0);
      m.streamTrimmed.inc(n(1));
      m.streamLength.set({ partition }, n(3));
      m.streamPending.set({ partition }, n(4));
      inflight += n(4);
      // Redis reports lag -1 when it cannot tell (after deletions); count it as unknown, not zero.
      backlog += Math.max(0, n(5));
      delayed += n(6);
      deadLetters += n(7);
      nowMs = n(8);
      if (n(9) >= 0) oldest = Math.min(oldest, n(9));
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

  clearGauges(): void {
    const m = this.metrics;
    for (const gauge of [m.backlog, m.inflight, m.delayed, m.deadLetters, m.liveWorkers, m.oldestInflightAge])
      gauge.set(0);
    m.streamLength.reset();
    m.streamPending.reset();
  }
}
