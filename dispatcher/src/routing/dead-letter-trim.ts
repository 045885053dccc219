import { type DataClient, type Keys, type PartitionKeys, scripts } from '@redispatch/shared';
import type { DispatcherMetrics } from '../metrics.js';

/** Most dead letters removed per list and per upkeep pass: bounded work per round trip. */
const TRIM_STEP = 1_000;

/**
 * Caps every dead-letter list and stream at REDISPATCH_DLQ_MAX, oldest out (issue 22: an uncapped
 * dead-letter list let publishers fill Redis). Run with the leader's upkeep, so a list grows past
 * the cap by at most what arrives in one reap interval. Counted in redispatch_dlq_trimmed_total.
 * Not fenced: an ex-leader trimming to the same cap removes nothing the new leader would keep.
 */
export class DeadLetterTrim {
  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly maxLetters: number,
    private readonly metrics: DispatcherMetrics,
    /** Streams mode: the partitions, whose dead-letter streams are capped each; lists mode: none. */
    private readonly partitions: readonly PartitionKeys[] = [],
  ) {}

  /** One pass over every dead-letter list; true when a list is still over the cap. */
  async run(): Promise<boolean> {
    const [letters, replies, streams] = await Promise.all([
      this.partitions.length === 0 ? this.trimListsDlq() : Promise.resolve(0),
      this.trimOutboundDead(),
      Promise.all(this.partitions.map((p) => this.trimStream(p))),
    ]);
    const streamed = streams.reduce((sum, n) => sum + n, 0);
    if (letters + streamed > 0) this.metrics.dlqTrimmed.inc({ list: 'dlq' }, letters + streamed);
    if (replies > 0) this.metrics.dlqTrimmed.inc({ list: 'out-dlq' }, replies);
    return letters === TRIM_STEP;
  }

  /** Lists mode: the oldest dead letters and their bodies, through the purge script. */
  private async trimListsDlq(): Promise<number> {
    const excess = (await this.client.zcard(this.keys.dlq)) - this.maxLetters;
    if (excess <= 0) return 0;
    return scripts.dlqPurge(this.client, this.keys, { limit: Math.min(excess, TRIM_STEP) });
  }

  /** `{prefix}:out-dlq` is pushed at the head: the oldest are at the tail. */
  private async trimOutboundDead(): Promise<number> {
    const excess = (await this.client.llen(this.keys.outboundDead)) - this.maxLetters;
    if (excess <= 0) return 0;
    await this.client.ltrim(this.keys.outboundDead, 0, this.maxLetters - 1);
    return excess;
  }

  private async trimStream(partition: PartitionKeys): Promise<number> {
    return Number(await this.client.xtrim(partition.dlq, 'MAXLEN', this.maxLetters));
  }
}
