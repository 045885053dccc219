import {
  type Config,
  type DataClient,
  joinDeployment,
  type Keys,
  type PartitionKeys,
  scripts,
  waitForReplicas,
} from '@redispatch/shared';
import type { DispatcherMetrics } from '../../metrics.js';
import { DeadLetterTrim } from '../dead-letter-trim.js';
import { FlowState, rateSetting } from '../flow-state.js';
import { IDLE_RELEASE_MS, type ReleaseResult } from '../rate-release.js';
import { EpochBehindError, type LeaderRouting, type RoutingMode } from '../routing-mode.js';
import { KeyGateSweep, keyLimits, StreamKeyRelease } from './key-limits.js';
import { StreamUpkeep, type StreamUpkeepSettings } from './stream-upkeep.js';
import { StreamWriter } from './stream-writer.js';

/** What streams mode reads from the configuration (its writer's and its upkeep's settings). */
export type StreamsModeSettings = StreamUpkeepSettings &
  Pick<
    Config,
    | 'prefix'
    | 'partitions'
    | 'waitReplicas'
    | 'waitTimeoutMs'
    | 'maxPayloadBytes'
    | 'dedupeWindowMs'
    | 'dlqMax'
    | 'rateLimit'
    | 'rateBurst'
    | 'keyConcurrency'
    | 'keyRateLimit'
    | 'keyRateBurst'
  >;

/**
 * Streams mode: P partition streams spread over a Redis Cluster's masters, one consumer group.
 * Each partition has its own fence in its own slot; a new leader raises every one before its
 * first write, so a paused ex-leader's late XADD is rejected on whichever partition it tries.
 */
export class StreamsMode implements RoutingMode {
  readonly name = 'streams' as const;
  private partitions: PartitionKeys[] = [];

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly config: StreamsModeSettings,
    private readonly metrics: DispatcherMetrics,
  ) {}

  async prepare(): Promise<void> {
    this.partitions = await joinDeployment(this.client, this.keys, {
      prefix: this.config.prefix,
      mode: 'streams',
      partitions: this.config.partitions,
      stamp: true,
      loadPartitions: true,
      refuseCollisions: true,
    });
  }

  /** The newest marker over all partitions: the batch with the highest (epoch, sequence). */
  async readProgress(): Promise<string> {
    const values = await Promise.all(this.partitions.map((p) => this.client.get(p.progress)));
    let best: { epoch: number; seq: number; marker: string } | undefined;
    for (const value of values) {
      if (!value) continue;
      const [epochText, seqText, marker] = value.split(' ');
      const epoch = Number(epochText);
      const seq = Number(seqText);
      if (!marker || !Number.isFinite(epoch) || !Number.isFinite(seq)) continue;
      if (!best || epoch > best.epoch || (epoch === best.epoch && seq > best.seq))
        best = { epoch, seq, marker };
    }
    return best?.marker ?? '';
  }

  async takeOver(epoch: number): Promise<LeaderRouting> {
    if (this.config.waitReplicas > 0) {
      // The epoch must survive a failover of its own master, or a later leader could draw it again.
      await waitForReplicas(
        this.client,
        this.keys.epoch,
        this.config.waitReplicas,
        this.config.waitTimeoutMs,
      );
    }
    const replies = await Promise.all(
      this.partitions.map((p) =>
        scripts.streamFence(this.client, p, { epoch, group: this.config.consumerGroup }),
      ),
    );
    const floor = Math.max(0, ...replies.map((outcome) => (outcome.raised ? 0 : outcome.current)));
    if (floor > 0) throw new EpochBehindError(epoch, floor);
    const rate = rateSetting(this.config.rateLimit, this.config.rateBurst);
    const flow = new FlowState(this.client, this.keys, epoch, this.metrics, rate);
    const limits = keyLimits(this.config);
    // The per-key rate's release: only with a per-key rate (a concurrency limit is released by settles).
    const keyRelease =
      limits.kind === 'limited' && limits.rate > 0
        ? new StreamKeyRelease(this.client, this.partitions, epoch)
        : undefined;
    const writer = new StreamWriter({
      client: this.client,
      partitions: this.partitions,
      epoch,
      group: this.config.consumerGroup,
      maxPayloadBytes: this.config.maxPayloadBytes,
      dedupeWindowMs: this.config.dedupeWindowMs,
      waitReplicas: this.config.waitReplicas,
      waitTimeoutMs: this.config.waitTimeoutMs,
      metrics: this.metrics,
      flow,
      keyLimits: limits,
      ...(keyRelease ? { onHeldByRate: (partition: number) => keyRelease.heldByRate(partition) } : {}),
    });
    const upkeep = new StreamUpkeep(
      this.client,
      this.keys,
      this.partitions,
      this.config,
      epoch,
      this.metrics,
      flow,
      limits.kind === 'limited',
    );
    // Once per term, and again at each pause and resume: what waits for a per-key limit is re-checked
    // against this leader's limits, or, with both off, drained into the streams. Paused, the partitions
    // are only marked paused (a settle that frees a slot lets nothing out until the resume's sweep).
    const sweep = new KeyGateSweep(this.client, this.partitions, epoch, limits);
    let sweeping = true;
    let sweptPaused = flow.isPaused;
    const sweepHeld = async (): Promise<boolean> => {
      if (flow.isPaused !== sweptPaused) {
        sweptPaused = flow.isPaused;
        sweep.restart();
        sweeping = true;
      }
      if (!sweeping) return false;
      sweeping = (await sweep.run(sweptPaused)).more;
      return sweeping;
    };
    // The first upkeep applies the flow state before the first write.
    await upkeep.run();
    await sweepHeld();
    const trim = new DeadLetterTrim(
      this.client,
      this.keys,
      this.config.dlqMax,
      this.metrics,
      this.partitions,
    );
    let tickAppends = 0;
    return {
      write: (batch) => writer.write(batch),
      fireTick: async (tick) => {
        // The partition append deduplicates on the tick's id (its envelope id), so a tick appended by a
        // leader that died before recording it is dropped when its successor appends it again. Each
        // append has its own entry id: a repeat of the same entry id would count as a retried write.
        tickAppends += 1;
        const id = `${tick.id}@${epoch.toString(36)}-${tickAppends.toString(36)}`;
        if (tick.payload !== '')
          await writer.write({
            ids: [id],
            payloads: [tick.payload],
            marker: '',
            received: [],
            acks: [undefined],
          });
        const { keys, client } = this;
        return scripts.scheduleAdvance(client, keys, {
          epoch,
          name: tick.name,
          dueMs: tick.dueMs,
          fired: tick.payload !== '',
        });
      },
      upkeep: async () => {
        const result = await upkeep.run();
        const trimMore = await trim.run();
        const sweepMore = await sweepHeld();
        return { ...result, more: result.more || trimMore || sweepMore };
      },
      ...releaseLoop(
        rate.kind === 'limited' ? () => upkeep.release() : undefined,
        // Paused: a key's due messages wait too (what a settle frees by concurrency still goes out).
        keyRelease && (() => (flow.isPaused ? idle() : keyRelease.release())),
      ),
      clearGauges: () => upkeep.clearGauges(),
      nextDueInMs: () => upkeep.nextDueInMs(),
    };
  }
}

const idle = async (): Promise<ReleaseResult> => ({ released: 0, nextMs: IDLE_RELEASE_MS });

/** The leader's release loop: the cluster-wide rate's and the per-key rate's, whichever are set. */
function releaseLoop(
  cluster: (() => Promise<ReleaseResult>) | undefined,
  perKey: (() => Promise<ReleaseResult>) | undefined,
): { release?: () => Promise<ReleaseResult> } {
  if (!cluster || !perKey) {
    const only = cluster ?? perKey;
    return only ? { release: only } : {};
  }
  return {
    release: async () => {
      const [a, b] = await Promise.all([cluster(), perKey()]);
      return { released: a.released + b.released, nextMs: Math.min(a.nextMs, b.nextMs) };
    },
  };
}
