import { performance } from 'node:perf_hooks';
import { type DecodedHeader, dedupeId, type Keys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { DispatcherMetrics } from '../../metrics.js';
import type { Batch } from '../batcher.js';
import type { FlowState } from '../flow-state.js';
import { classifyPayload, delayPlacement, optionsPlacement, rendezvousIndex } from '../placement.js';
import type { KeyGate } from './key-gate.js';

export interface BatchWriterOptions {
  redis: Redis;
  keys: Keys;
  epoch: number;
  highWater: number;
  maxPayloadBytes: number;
  workerTtlMs: number;
  routing: 'round-robin' | 'least-loaded' | 'affinity';
  dedupeWindowMs: number;
  metrics: DispatcherMetrics;
  flow: FlowState;
  keyGate: KeyGate;
}

/**
 * Writes a batch with ONE fenced script call: new messages are stored and, with whatever waited
 * in the backlog, assigned round-robin to live workers with room; the rest go to the backlog.
 * Oversize payloads are dead-lettered in the same call. The body is never parsed.
 */
export class BatchWriter {
  private liveWorkers: string[] = [];
  private roundRobin = 1;

  constructor(private readonly options: BatchWriterOptions) {}

  get workers(): readonly string[] {
    return this.liveWorkers;
  }

  /** Replaces the routing set (sorted, so round-robin order is stable across calls). */
  setLiveWorkers(ids: readonly string[]): void {
    const sorted = [...ids].sort();
    if (sorted.length === this.liveWorkers.length && sorted.every((id, i) => id === this.liveWorkers[i]))
      return;
    this.liveWorkers = sorted;
    this.roundRobin = sorted.length === 0 ? 1 : ((this.roundRobin - 1) % sorted.length) + 1;
  }

  async write(batch: Batch): Promise<void> {
    const { epoch, highWater, maxPayloadBytes, workerTtlMs, metrics, redis, flow } = this.options;
    // Holding (paused, or a rate limit): no queue is offered and the script's backlog is the held
    // list, so everything waits there until resumed or released.
    const workers = flow.isHolding ? [] : this.liveWorkers;
    const keys = flow.routingKeys;
    const messages: scripts.NewMessage[] = [];
    const rejected: scripts.RejectedMessage[] = [];
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i] as string;
      const payload = batch.payloads[i] as Buffer;
      const classified = classifyPayload(payload, maxPayloadBytes);
      if (classified.kind === 'rejected') {
        rejected.push({ id, payload: classified.kept, reason: classified.reason });
        continue;
      }
      if (classified.kind === 'plain') messages.push({ id, payload, publisherId: '', placement: '' });
      else
        messages.push({
          id,
          payload,
          publisherId: dedupeId(classified.header),
          placement:
            this.placement(classified.header, workers) +
            optionsPlacement(classified.header) +
            this.options.keyGate.placementSuffix(classified.header),
        });
    }
    const started = performance.now();
    const {
      routed,
      roundRobinNext,
      accepted,
      duplicates,
      deadLettered,
      deduplicated,
      keyHeldConcurrency,
      keyHeldRate,
    } = await scripts.dispatchBatch(redis, keys, {
      epoch,
      highWater,
      roundRobinStart: this.roundRobin,
      progress: batch.marker,
      workerTtlMs,
      routing: this.options.routing === 'least-loaded' ? 'least-loaded' : 'round-robin',
      dedupeWindowMs: this.options.dedupeWindowMs,
      workers,
      messages,
      rejected,
    });
    metrics.dispatchDuration.observe((performance.now() - started) / 1000);
    this.roundRobin = roundRobinNext;
    if (batch.ids.length > 0) metrics.batchSize.observe(batch.ids.length);
    metrics.dispatched.inc(routed);
    metrics.accepted.inc(accepted + deadLettered);
    metrics.duplicates.inc(duplicates);
    metrics.deduplicated.inc(deduplicated);
    metrics.deadLettered.inc(deadLettered);
    this.options.keyGate.countHeld(keyHeldConcurrency, keyHeldRate);
  }

  /** Where an enveloped message goes: the delayed set, its affinity worker, or normal routing. */
  private placement(header: DecodedHeader, workers: readonly string[]): string {
    const delayed = delayPlacement(header);
    if (delayed !== '') return delayed;
    if (this.options.routing === 'affinity' && header.affinityKey !== undefined) {
      const index = rendezvousIndex(header.affinityKey, workers);
      if (index >= 0) return `q${index + 1}`;
    }
    return '';
  }
}
