import { performance } from 'node:perf_hooks';
import {
  type DataClient,
  dedupeId,
  type PartitionKeys,
  ReplicaWaitError,
  scripts,
  waitForReplicas,
} from '@redispatch/shared';
import type { DispatcherMetrics } from '../../metrics.js';
import type { Batch } from '../batcher.js';
import type { FlowState } from '../flow-state.js';
import { classifyPayload, delayPlacement, optionsPlacement, rendezvousIndex } from '../placement.js';
import type { KeyLimits } from './key-limits.js';

export interface StreamWriterOptions {
  client: DataClient;
  partitions: readonly PartitionKeys[];
  epoch: number;
  group: string;
  maxPayloadBytes: number;
  dedupeWindowMs: number;
  waitReplicas: number;
  waitTimeoutMs: number;
  metrics: DispatcherMetrics;
  flow: FlowState;
  keyLimits: KeyLimits;
  /** A message was held by the per-key rate on this partition (its release reads the due keys then). */
  onHeldByRate?: (partition: number) => void;
}

interface SubBatch {
  partition: PartitionKeys;
  messages: scripts.NewMessage[];
  rejected: scripts.RejectedMessage[];
  /** Per-key limits on: each message's affinity key ('' = none). */
  keys: string[];
}

/**
 * Streams mode's batch write. A batch goes to the next partition in round-robin order with ONE
 * fenced script call (XADD of every message). Messages with a publisher id or an affinity key go to
 * the partition their key hashes to instead (so a repeat meets its dedupe key, and a key keeps one
 * partition); those calls go out first, in parallel, and the round-robin partition's call — which
 * stores the replay marker — goes last, so a stored marker proves the whole batch was written.
 */
export class StreamWriter {
  private roundRobin = 0;
  private sequence = 0;
  private readonly tags: string[];
  /** A retried batch keeps its tag (and partition), so the script recognises it as written. */
  private readonly assigned = new WeakMap<Batch, { seq: number; partition: number }>();

  constructor(private readonly options: StreamWriterOptions) {
    this.tags = options.partitions.map((p) => p.tag);
  }

  async write(batch: Batch): Promise<void> {
    const { partitions, epoch, metrics, maxPayloadBytes } = this.options;
    let slot = this.assigned.get(batch);
    if (!slot) {
      this.sequence += 1;
      slot = { seq: this.sequence, partition: this.roundRobin };
      this.roundRobin = (this.roundRobin + 1) % partitions.length;
      this.assigned.set(batch, slot);
    }
    const subs = new Map<number, SubBatch>();
    const sub = (index: number): SubBatch => {
      let found = subs.get(index);
      if (!found) {
        found = { partition: partitions[index] as PartitionKeys, messages: [], rejected: [], keys: [] };
        subs.set(index, found);
      }
      return found;
    };
    const home = sub(slot.partition);
    // Holding (paused, or a rate limit): what would be appended now is parked as due at once; only a
    // resume or the rate limit's release brings it to the stream.
    const now = this.options.flow.isHolding ? 'd0' : '';
    const gated = this.options.keyLimits.kind === 'limited';
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i] as string;
      const payload = batch.payloads[i] as Buffer;
      const classified = classifyPayload(payload, maxPayloadBytes);
      if (classified.kind === 'rejected') {
        home.rejected.push({ id, payload: classified.kept, reason: classified.reason });
        continue;
      }
      if (classified.kind === 'plain') {
        home.messages.push({ id, payload, publisherId: '', placement: now });
        home.keys.push('');
        continue;
      }
      const { header } = classified;
      // With per-key limits a key's gate lives in one partition, so the affinity key picks it (a repeat
      // of a publisher id carries the same key, so it still meets its dedupe key there).
      const key = gated ? (header.affinityKey ?? header.id) : (header.id ?? header.affinityKey);
      const target = key === undefined ? home : sub(rendezvousIndex(key, this.tags));
      const placement = (delayPlacement(header) || now) + optionsPlacement(header);
      target.messages.push({ id, payload, publisherId: dedupeId(header), placement });
      target.keys.push(header.affinityKey ?? '');
    }
    // Epochs only grow (fences are strict), so epoch and sequence name a batch for good.
    const tag = `${epoch}:${slot.seq}`;
    const marker = batch.marker;
    const progress = marker ? `${epoch} ${slot.seq} ${marker}` : '';
    const started = performance.now();
    const others = [...subs.values()].filter((s) => s !== home);
    await Promise.all(others.map((s) => this.writeSub(s, tag, '')));
    await this.writeSub(home, tag, progress);
    metrics.dispatchDuration.observe((performance.now() - started) / 1000);
    if (batch.ids.length > 0) metrics.batchSize.observe(batch.ids.length);
  }

  private async writeSub(s: SubBatch, tag: string, progress: string): Promise<void> {
    const { client, epoch, group, dedupeWindowMs, metrics, waitReplicas, waitTimeoutMs } = this.options;
    const p = s.partition;
    const limits = this.options.keyLimits;
    // Only a batch with a keyed message carries the gate section: nothing is added otherwise.
    const gate =
      limits.kind === 'limited' && s.keys.some((key) => key !== '') ? { ...limits, keys: s.keys } : undefined;
    const reply = await scripts.streamAppend(client, p, {
      epoch,
      batchTag: tag,
      progress,
      group,
      dedupeWindowMs,
      messages: s.messages,
      rejected: s.rejected,
      gate,
    });
    const { appended, delayed, deadLettered, deduplicated, alreadyApplied } = reply;
    const held = reply.heldByConcurrency + reply.heldByRate;
    if (held > 0) {
      metrics.keyHeld.inc({ limit: 'concurrency' }, reply.heldByConcurrency);
      metrics.keyHeld.inc({ limit: 'rate' }, reply.heldByRate);
      if (reply.heldByRate > 0) this.options.onHeldByRate?.(p.index);
    }
    metrics.dispatched.inc(appended);
    metrics.accepted.inc(appended + delayed + deadLettered + held);
    metrics.deadLettered.inc(deadLettered);
    metrics.deduplicated.inc(deduplicated);
    if (alreadyApplied) metrics.duplicates.inc(s.messages.length);
    if (waitReplicas > 0) {
      // Redis Cluster replicates asynchronously; WAIT narrows (not closes) what a failover can lose.
      const acknowledged = await waitForReplicas(client, p.stream, waitReplicas, waitTimeoutMs);
      if (acknowledged < waitReplicas) {
        metrics.replicaWaitShort.inc();
        throw new ReplicaWaitError(p.stream, acknowledged, waitReplicas);
      }
    }
  }
}
