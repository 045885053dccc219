import { type Config, type DataClient, type Keys, type PartitionKeys, scripts } from '@redispatch/shared';
import type { DispatcherMetrics } from '../../metrics.js';
import type { FlowState } from '../flow-state.js';
import { IDLE_RELEASE_MS, nextReleaseMs, type ReleaseResult } from '../rate-release.js';
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
  /** The live workers the last upkeep saw (a release's maintain call must not drop their consumers). */
  private liveIds: string[] = [];
  /** The partition the next rate-limit release promotes from (round-robin). */
  private releaseNext = 0;
  /** Tokens the last release took but could not use (fewer entries were due there). */
  private refund = 0;

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly partitions: readonly PartitionKeys[],
    private readonly config: StreamUpkeepSettings,
    private readonly epoch: number,
    private readonly metrics: DispatcherMetrics,
    private readonly flow: FlowState,
    /** Per-key limits are on (due keyed messages enter their key's gate; keys waiting are counted). */
    private readonly gated = false,
  ) {}

  async run(): Promise<UpkeepResult> {
    await this.flow.apply(); // streams mode holds nothing in the held list (parked in the delayed sets)
    // Holding: delayed (and parked) messages stay in the delayed set; nothing reaches the streams
    // (paused), or only what the rate limit's release promotes.
    const promoteLimit = this.flow.isHolding ? 0 : PROMOTE_LIMIT;
    const live = await scripts.liveWorkers(this.client, this.keys, { ttlMs: this.config.workerTtlMs });
    const liveIds = live.workers.map((w) => w.id);
    this.liveIds = liveIds;
    const replies = await Promise.all(
      this.partitions.map((p) =>
        scripts.streamMaintain(this.client, p, {
          epoch: this.epoch,
          group: this.config.consumerGroup,
          promoteLimit,
          liveWorkers: liveIds,
          gated: this.gated,
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
    let keysWaiting = 0;
    const m = this.metrics;
    replies.forEach((reply, index) => {
      const partition = String(index);
      promoted += reply.promoted;
      keysWaiting += reply.keysWaiting;
      this.countHeld(reply);
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
    if (this.gated) m.keysWaiting.set(keysWaiting);
    m.oldestInflightAge.set(Number.isFinite(oldest) ? Math.max(0, (nowMs - oldest) / 1000) : 0);
    return {
      liveWorkers: liveIds.length,
      backlog,
      more: promoted >= PROMOTE_LIMIT,
      paused: this.flow.isPaused,
    };
  }

  /**
   * Rate limit: takes tokens from the cluster-wide bucket (fenced) and promotes that many parked or due
   * entries from one partition, round-robin; tokens it could not use go back with the next take.
   */
  async release(): Promise<ReleaseResult> {
    const rate = this.flow.rate;
    if (rate.kind !== 'limited' || this.flow.isPaused) return { released: 0, nextMs: IDLE_RELEASE_MS };
    const { granted, waitMs } = await scripts.flowTake(this.client, this.keys, {
      epoch: this.epoch,
      rate: rate.rate,
      burst: rate.burst,
      want: PROMOTE_LIMIT,
      refund: this.refund,
    });
    this.refund = 0;
    if (granted === 0) return { released: 0, nextMs: nextReleaseMs(waitMs, true) };
    const partition = this.partitions[this.releaseNext] as PartitionKeys;
    this.releaseNext = (this.releaseNext + 1) % this.partitions.length;
    const reply = await scripts.streamMaintain(this.client, partition, {
      epoch: this.epoch,
      group: this.config.consumerGroup,
      promoteLimit: granted,
      liveWorkers: this.liveIds,
      gated: this.gated,
    });
    this.countHeld(reply);
    this.refund = granted - reply.promoted;
    this.metrics.released.inc(reply.promoted);
    // Unused tokens: try the next partition at once, unless this one had nothing at all.
    const nextMs = this.refund > 0 ? (reply.promoted > 0 ? 0 : IDLE_RELEASE_MS) : nextReleaseMs(waitMs, true);
    return { released: reply.promoted, nextMs };
  }

  /** Due messages a per-key limit held back as they were promoted. */
  private countHeld(reply: scripts.StreamMaintainReply): void {
    if (reply.heldByConcurrency > 0)
      this.metrics.keyHeld.inc({ limit: 'concurrency' }, reply.heldByConcurrency);
    if (reply.heldByRate > 0) this.metrics.keyHeld.inc({ limit: 'rate' }, reply.heldByRate);
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
    for (const gauge of [
      m.backlog,
      m.inflight,
      m.delayed,
      m.deadLetters,
      m.liveWorkers,
      m.oldestInflightAge,
      m.keysWaiting,
    ])
      gauge.set(0);
    m.streamLength.reset();
    m.streamPending.reset();
    this.flow.clearGauges();
  }
}
