import { type DataClient, type Keys, type PartitionKeys, scripts } from '@redispatch/shared';
import type { WorkerMetrics } from '../metrics.js';
import { SettleLoop } from '../settle-loop.js';
import type { PendingReply } from '../settler.js';

interface PartitionSettlements {
  acks: string[];
  nacks: scripts.StreamNack[];
  /** Entries holding a per-key slot: their acks, and whether any settlement here holds one (nacks too). */
  gatedAcks: { entryId: string; key: string }[];
  gated: boolean;
  /** Handlers' return values of these acks (only with a results stream). */
  results: scripts.StreamResultWrite[];
}

/** What one write takes: each partition's acks and nacks, and the replies of those acks. */
interface StreamSettlements {
  buffered: Map<number, PartitionSettlements>;
  replies: PendingReply[];
}

/**
 * Streams mode's acks and nacks, batched per event-loop turn by a SettleLoop and settled with one
 * script call per partition that has any (all partitions in parallel, one write in flight at a
 * time). A failed call is retried: XACK of an entry already acked is a no-op, and a nack re-checks
 * ownership.
 */
export class StreamSettler {
  private buffered = new Map<number, PartitionSettlements>();
  private replies: PendingReply[] = [];
  private count = 0;
  private readonly loop: SettleLoop<StreamSettlements, PromiseSettledResult<void>[]>;

  constructor(
    private readonly client: DataClient,
    private readonly partitions: () => readonly PartitionKeys[],
    private readonly group: string,
    private readonly consumer: string,
    private readonly maxAttempts: number,
    private readonly outbound: { keys: Keys; max: number },
    /** Approximate cap of each partition's results stream; undefined: results are off. */
    private readonly resultsMaxLen: number | undefined,
    private readonly metrics: WorkerMetrics,
    private readonly onError: (error: unknown) => void,
  ) {
    this.loop = new SettleLoop({
      hasPending: () => this.count > 0,
      take: () => this.take(),
      write: (taken) => this.write(taken),
      settled: (taken, results) => this.putBackFailed(taken, results),
      failed: (taken, error) => {
        this.putBack(taken);
        this.onError(error);
      },
    });
  }

  /**
   * Acks an entry; its replies are written to their outbound queues first, in the same flush, and its
   * result (if any) in the ack's own script call.
   */
  ack(
    partition: number,
    entryId: string,
    replies?: readonly PendingReply[],
    result?: { messageId: string; result: Buffer },
    key?: string,
  ): void {
    const slot = this.slot(partition);
    if (key === undefined) slot.acks.push(entryId);
    else {
      slot.gatedAcks.push({ entryId, key });
      slot.gated = true;
    }
    if (result) slot.results.push({ entryId, ...result });
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
    key?: string,
  ): void {
    const slot = this.slot(partition);
    slot.nacks.push({ entryId, messageId, attempt, delayMs, error });
    if (key !== undefined) slot.gated = true;
    this.added();
  }

  drain(timeoutMs: number): Promise<void> {
    return this.loop.drain(timeoutMs);
  }

  private slot(partition: number): PartitionSettlements {
    let found = this.buffered.get(partition);
    if (!found) {
      found = { acks: [], nacks: [], results: [], gatedAcks: [], gated: false };
      this.buffered.set(partition, found);
    }
    return found;
  }

  private added(): void {
    this.count += 1;
    this.loop.request();
  }

  private take(): StreamSettlements {
    const taken = { buffered: this.buffered, replies: this.replies };
    this.buffered = new Map();
    this.replies = [];
    this.count = 0;
    return taken;
  }

  /**
   * The replies, then every partition's settle in parallel. Throws only if the replies could not be
   * written (then nothing was settled); a partition's failure is in its result.
   */
  private async write({ buffered, replies }: StreamSettlements): Promise<PromiseSettledResult<void>[]> {
    const partitions = this.partitions();
    if (replies.length > 0) {
      // The outbound queues live in the deployment's slot, the acks in each partition's: replies go
      // first, so a failure in between can repeat a reply but never lose one.
      const { keys, max } = this.outbound;
      const { written, deadLettered: dead } = await scripts.outboundWrite(this.client, keys, {
        max,
        replies,
      });
      this.metrics.replies.inc({ outcome: 'queued' }, written);
      this.metrics.replies.inc({ outcome: 'dead_lettered' }, dead);
    }
    return Promise.allSettled(
      [...buffered.entries()].map(async ([index, work]) => {
        const p = partitions[index] as PartitionKeys;
        const { acked, retried, deadLettered, stale } = await scripts.streamSettle(this.client, p, {
          group: this.group,
          consumer: this.consumer,
          maxAttempts: this.maxAttempts,
          acks: work.acks,
          nacks: work.nacks,
          results: work.results,
          resultsStream:
            this.resultsMaxLen === undefined ? undefined : { key: p.results, maxLen: this.resultsMaxLen },
          gated: work.gated ? { acks: work.gatedAcks } : undefined,
        });
        this.metrics.acked.inc(acked);
        this.metrics.nacked.inc(retried + deadLettered);
        this.metrics.deadLettered.inc(deadLettered);
        this.metrics.stale.inc(stale);
        if (acked + retried + deadLettered > 0) this.metrics.lastProgress.set(Date.now() / 1000);
      }),
    );
  }

  /** Puts back the partitions whose settle failed (their replies are already written); true if any. */
  private putBackFailed({ buffered }: StreamSettlements, results: PromiseSettledResult<void>[]): boolean {
    let failed = false;
    [...buffered.entries()].forEach(([index, work], i) => {
      const result = results[i];
      if (result?.status !== 'rejected') return;
      failed = true;
      this.onError(result.reason);
      this.putBackPartition(index, work);
    });
    return failed;
  }

  /** Puts back a whole write whose replies could not be written (front of the line, order kept). */
  private putBack({ buffered, replies }: StreamSettlements): void {
    for (const [index, work] of buffered) this.putBackPartition(index, work);
    this.replies.unshift(...replies);
  }

  private putBackPartition(index: number, work: PartitionSettlements): void {
    const slot = this.slot(index);
    slot.acks.unshift(...work.acks);
    slot.nacks.unshift(...work.nacks);
    slot.results.unshift(...work.results);
    slot.gatedAcks.unshift(...work.gatedAcks);
    slot.gated ||= work.gated;
    this.count += work.acks.length + work.nacks.length + work.gatedAcks.length;
  }
}
