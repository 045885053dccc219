import { type DataClient, type Keys, type PartitionKeys, scripts } from '@redispatch/shared';
import type { WorkerMetrics } from '../metrics.js';
import type { PendingReply } from '../settler.js';

interface PartitionSettlements {
  acks: string[];
  nacks: scripts.StreamNack[];
}

const RETRY_MS = 100;

/**
 * Streams mode's acks and nacks, batched per event-loop turn and settled with one script call per
 * partition that has any (all partitions in parallel, one flush in flight at a time). A failed
 * call is retried: XACK of an entry already acked is a no-op, and a nack re-checks ownership.
 */
export class StreamSettler {
  private buffered = new Map<number, PartitionSettlements>();
  private replies: PendingReply[] = [];
  private count = 0;
  private flushing = false;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly client: DataClient,
    private readonly partitions: () => readonly PartitionKeys[],
    private readonly group: string,
    private readonly consumer: string,
    private readonly maxAttempts: number,
    private readonly outbound: { keys: Keys; max: number },
    private readonly metrics: WorkerMetrics,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Acks an entry; its replies are written to their outbound queues first, in the same flush. */
  ack(partition: number, entryId: string, replies?: readonly PendingReply[]): void {
    this.slot(partition).acks.push(entryId);
    if (replies) this.replies.push(...replies);
    this.added();
  }

  nack(
    partition: number,
    entryId: string,
    messageId: string,
    attempt: number,
    delayMs: number,
    error: string,
  ): void {
    this.slot(partition).nacks.push({ entryId, messageId, attempt, delayMs, error });
    this.added();
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.count === 0 && !this.flushing) return;
    this.schedule();
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  private slot(partition: number): PartitionSettlements {
    let found = this.buffered.get(partition);
    if (!found) {
      found = { acks: [], nacks: [] };
      this.buffered.set(partition, found);
    }
    return found;
  }

  private added(): void {
    this.count += 1;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    if (this.count === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    const taken = this.buffered;
    const replies = this.replies;
    this.buffered = new Map();
    this.replies = [];
    this.count = 0;
    this.flushing = true;
    const partitions = this.partitions();
    if (replies.length > 0) {
      // The outbound queues live in the deployment's slot, the acks in each partition's: replies go
      // first, so a failure in between can repeat a reply but never lose one.
      try {
        const { keys, max } = this.outbound;
        const { written, deadLettered: dead } = await scripts.outboundWrite(this.client, keys, {
          max,
          replies,
        });
        this.metrics.replies.inc({ outcome: 'queued' }, written);
        this.metrics.replies.inc({ outcome: 'dead_lettered' }, dead);
      } catch (error) {
        this.flushing = false;
        this.onError(error);
        this.buffered = taken;
        this.replies = replies;
        this.count = [...taken.values()].reduce((n, w) => n + w.acks.length + w.nacks.length, 0);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        this.schedule();
        return;
      }
    }
    const results = await Promise.allSettled(
      [...taken.entries()].map(async ([index, work]) => {
        const p = partitions[index] as PartitionKeys;
        const { acked, retried, deadLettered, stale } = await scripts.streamSettle(this.client, p, {
          group: this.group,
          consumer: this.consumer,
          maxAttempts: this.maxAttempts,
          acks: work.acks,
          nacks: work.nacks,
        });
        this.metrics.acked.inc(acked);
        this.metrics.nacked.inc(retried + deadLettered);
        this.metrics.deadLettered.inc(deadLettered);
        this.metrics.stale.inc(stale);
        if (acked + retried + deadLettered > 0) this.metrics.lastProgress.set(Date.now() / 1000);
      }),
    );
    this.flushing = false;
    let failed = false;
    [...taken.entries()].forEach(([index, work], i) => {
      const result = results[i];
      if (result?.status !== 'rejected') return;
      failed = true;
      this.onError(result.reason);
      const slot = this.slot(index);
      slot.acks.unshift(...work.acks);
      slot.nacks.unshift(...work.nacks);
      this.count += work.acks.length + work.nacks.length;
    });
    if (failed) await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    if (this.count > 0) this.schedule();
    else for (const resolve of this.idle.splice(0)) resolve();
  }
}
