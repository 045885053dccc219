import { performance } from 'node:perf_hooks';
import { assertNotFenced, type DecodedHeader, type Keys } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { DispatcherMetrics } from '../../metrics.js';
import type { Batch } from '../batcher.js';
import { classifyPayload, delayPlacement, rendezvousIndex } from '../placement.js';

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
}

/**
 * Writes a batch with ONE fenced script call: new messages are stored and, with whatever waited
 * in the backlog, assigned round-robin to live workers with room; the rest go to the backlog.
 * Oversize payloads are dead-lettered in the same call. The body is never parsed.
 */
export class BatchWriter {
  private liveWorkers: string[] = [];
  private queueKeys: string[] = [];
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
    this.queueKeys = sorted.map((id) => this.options.keys.queue(id));
    this.roundRobin = sorted.length === 0 ? 1 : ((this.roundRobin - 1) % sorted.length) + 1;
  }

  async write(batch: Batch): Promise<void> {
    const { keys, epoch, highWater, maxPayloadBytes, workerTtlMs, metrics, redis } = this.options;
    const args: (string | number | Buffer)[] = [];
    const dead: (string | Buffer)[] = [];
    let newCount = 0;
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i] as string;
      const payload = batch.payloads[i] as Buffer;
      const classified = classifyPayload(payload, maxPayloadBytes);
      if (classified.kind === 'rejected') {
        dead.push(id, payload, classified.reason);
        continue;
      }
      if (classified.kind === 'plain') args.push(id, payload, '', '');
      else args.push(id, payload, classified.header.id ?? '', this.placement(classified.header));
      newCount++;
    }
    const fixedKeys = [
      keys.epoch,
      keys.body,
      keys.backlog,
      keys.totals,
      keys.dlq,
      keys.errors,
      keys.progress,
      keys.workers,
      keys.delayed,
    ];
    const started = performance.now();
    const reply = await redis.rdDispatchBatch(
      fixedKeys.length + this.queueKeys.length,
      ...fixedKeys,
      ...this.queueKeys,
      String(epoch),
      highWater,
      this.roundRobin,
      newCount,
      dead.length / 3,
      batch.markers.at(-1) ?? '',
      workerTtlMs,
      this.options.routing === 'least-loaded' ? 'least-loaded' : 'round-robin',
      this.options.dedupeWindowMs,
      keys.tag,
      ...this.liveWorkers,
      ...args,
      ...dead,
    );
    assertNotFenced(reply, epoch);
    metrics.dispatchDuration.observe((performance.now() - started) / 1000);
    const [routed = 0, , rrNext = 1, accepted = 0, duplicates = 0, deadLettered = 0, , deduplicated = 0] =
      reply;
    this.roundRobin = rrNext;
    if (batch.ids.length > 0) metrics.batchSize.observe(batch.ids.length);
    metrics.dispatched.inc(routed);
    metrics.accepted.inc(accepted + deadLettered);
    metrics.duplicates.inc(duplicates);
    metrics.deduplicated.inc(deduplicated);
    metrics.deadLettered.inc(deadLettered);
  }

  /** Where an enveloped message goes: the delayed set, its affinity worker, or normal routing. */
  private placement(header: DecodedHeader): string {
    const delayed = delayPlacement(header);
    if (delayed !== '') return delayed;
    if (this.options.routing === 'affinity' && header.affinityKey !== undefined) {
      const index = rendezvousIndex(header.affinityKey, this.liveWorkers);
      if (index >= 0) return `q${index + 1}`;
    }
    return '';
  }
}
