import type { SpanContext } from '@opentelemetry/api';
import {
  closeQuietly,
  connectOrThrow,
  createDataConnection,
  type DataClient,
  type DataConnectionSettings,
  dataSetting,
  dataTarget,
  joinDeployment,
  type PartitionKeys,
  scripts,
  withAttemptLink,
} from '@redispatch/shared';
import { ExtendBatcher, type ExtendWork } from '../extend-batcher.js';
import { Registration } from '../registration.js';
import type { PendingReply } from '../settler.js';
import type { Delivery, Transport, TransportHost, TransportOptions } from '../transport.js';
import { readPartition } from './partition-read.js';
import { StreamSettler } from './stream-settler.js';

/** How long one XREADGROUP blocks before the loop checks its state again. */
const BLOCK_MS = 1_000;
/** Most entries one read asks for. */
const READ_MAX = 256;

export interface StreamsTransportOptions extends TransportOptions {
  clusterNodes: readonly string[];
  clusterNatMap?: Readonly<Record<string, { host: string; port: number }>> | undefined;
  prefix: string;
  partitions: number;
  group: string;
}

/**
 * Streams mode: this worker is one consumer of the group on every partition. Each partition has a
 * reader blocked in XREADGROUP on its own connection (a blocking read holds its connection, and
 * one node's partitions cannot share one command across slots). A reclaim pass takes over entries
 * idle past the ack timeout with XPENDING IDLE + XCLAIM (its own given-up entries only after twice that); acks and nacks go out per partition in batches.
 * A partition that has received a message with a priority has a priority stream too: once a reclaim
 * pass reports it, the partition's reader takes it first (partition-read.ts), and settles, extends
 * and reclaims reach it through its own lane.
 */
export class StreamsTransport implements Transport {
  private readonly client: DataClient;
  private readonly registration: Registration;
  private readonly readers: DataClient[] = [];
  private partitions: PartitionKeys[] = [];
  /**
   * What a receipt's lane names: lane 2i is partition i's stream, lane 2i + 1 its priority stream
   * (the same keys with `stream` pointing there), so settle and extend reach the stream an entry
   * came from with the same scripts.
   */
  private lanes: PartitionKeys[] = [];
  /** Per partition: its priority stream exists (learnt from each reclaim pass), so reads take it first. */
  private prioritized: boolean[] = [];
  private readonly settler: StreamSettler;
  private readonly settings: Pick<DataConnectionSettings, 'url' | 'clusterNodes' | 'clusterNatMap'>;
  /** Entries requested by reads now in flight, so concurrent readers do not all ask for every free slot. */
  private reserved = 0;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private reclaiming = false;
  private readonly extender = new ExtendBatcher((batch) => this.writeExtensions(batch));
  /** XCLAIM cannot set an idle time below zero: an extension reaches one ack timeout ahead at most. */
  readonly extendReachMs: number;

  constructor(private readonly options: StreamsTransportOptions) {
    this.settings = {
      url: options.redisUrl,
      clusterNodes: options.clusterNodes,
      clusterNatMap: options.clusterNatMap,
    };
    this.client = createDataConnection('command', {
      ...this.settings,
      tls: options.tls,
      commandTimeoutMs: options.commandTimeoutMs,
      name: `rd-worker-${options.workerId}`,
    });
    this.registration = new Registration(this.client, options.keys, options.workerId);
    this.settler = new StreamSettler(
      this.client,
      () => this.lanes,
      options.group,
      options.workerId,
      options.maxAttempts,
      { keys: options.keys, max: options.outboundMax },
      options.resultsMaxLen,
      options.metrics,
      (error) => options.log.warn({ err: error }, 'settle failed; retrying'),
    );
    this.extendReachMs = options.ackTimeoutMs;
  }

  async start(): Promise<void> {
    const { commandTimeoutMs, keys, prefix, group } = this.options;
    await connectOrThrow(
      this.client,
      dataTarget(this.settings),
      dataSetting(this.settings),
      commandTimeoutMs * 5,
    );
    this.partitions = await joinDeployment(this.client, keys, {
      prefix,
      mode: 'streams',
      partitions: this.options.partitions,
      stamp: true,
      loadPartitions: true,
    });
    this.lanes = this.partitions.flatMap((p) => [p, Object.freeze({ ...p, stream: p.priorityStream })]);
    this.prioritized = this.partitions.map(() => false);
    await Promise.all(
      this.partitions.map((p) =>
        this.client.xgroup('CREATE', p.stream, group, '0', 'MKSTREAM').catch((error: Error) => {
          if (!error.message.includes('BUSYGROUP')) throw error;
        }),
      ),
    );
    for (const p of this.partitions) {
      const reader = createDataConnection('blocking', {
        ...this.settings,
        tls: this.options.tls,
        commandTimeoutMs,
        name: `rd-worker-read-${this.options.workerId}-${p.index}`,
      });
      this.readers.push(reader);
      await connectOrThrow(
        reader,
        dataTarget(this.settings),
        dataSetting(this.settings),
        commandTimeoutMs * 5,
      );
    }
    await this.heartbeat();
  }

  connected(): boolean {
    return this.client.status === 'ready';
  }

  heartbeat(): Promise<boolean> {
    return this.registration.beat();
  }

  leave(): Promise<void> {
    return this.registration.leave();
  }

  ack(delivery: Delivery, replies?: readonly PendingReply[], result?: Buffer): void {
    const [lane, entryId] = this.parse(delivery.receipt);
    this.settler.ack(lane, entryId, replies, result && { messageId: delivery.id, result });
  }

  extend(delivery: Delivery, ms: number): Promise<boolean> {
    return this.extender.extend(delivery, ms);
  }

  /** One streamExtend call per lane (partition stream or priority stream) with extensions, in parallel. */
  private async writeExtensions(batch: readonly ExtendWork[]): Promise<boolean[]> {
    const { group, workerId, ackTimeoutMs } = this.options;
    const byLane = new Map<number, number[]>();
    batch.forEach((work, i) => {
      const [lane] = this.parse(work.delivery.receipt);
      byLane.set(lane, [...(byLane.get(lane) ?? []), i]);
    });
    const extended: boolean[] = batch.map(() => false);
    await Promise.all(
      [...byLane].map(async ([lane, indexes]) => {
        const p = this.lanes[lane] as PartitionKeys;
        const flags = await scripts.extendStreamClaims(this.client, p, {
          group,
          consumer: workerId,
          ackTimeoutMs,
          requests: indexes.map((i) => {
            const { delivery, ms } = batch[i] as ExtendWork;
            return { ref: this.parse(delivery.receipt)[1], attempt: delivery.attempt, ms };
          }),
        });
        indexes.forEach((i, at) => {
          extended[i] = flags[at] === true;
        });
      }),
    );
    return extended;
  }

  nack(delivery: Delivery, delayMs: number, error: string, failedSpan?: SpanContext): void {
    const [lane, entryId] = this.parse(delivery.receipt);
    // A retry carries the failed attempt's span to whichever worker reads the next attempt.
    const carried = failedSpan === undefined || delayMs < 0 ? error : withAttemptLink(error, failedSpan);
    this.settler.nack(lane, entryId, delivery.id, delivery.attempt, delayMs, carried);
  }

  drain(timeoutMs: number): Promise<void> {
    return this.settler.drain(timeoutMs);
  }

  /**
   * Nothing to interrupt: a read returns within BLOCK_MS, and what it returns is already in this
   * consumer's pending list, so it is better handled now than left to a reclaim after the timeout.
   */
  interrupt(): void {}

  async close(): Promise<void> {
    clearTimeout(this.reclaimTimer);
    await Promise.all([closeQuietly(this.client), ...this.readers.map((reader) => closeQuietly(reader))]);
  }

  async run(host: TransportHost): Promise<void> {
    const interval = Math.max(50, Math.min(1_000, Math.floor(this.options.ackTimeoutMs / 4)));
    // Jittered, so the consumer that timed out on an entry does not win every reclaim race by phase.
    const tick = () => {
      this.reclaimTimer = setTimeout(
        () => void this.reclaim(host).finally(() => host.taking() && tick()),
        interval * (0.5 + Math.random()),
      );
      this.reclaimTimer.unref();
    };
    tick();
    await Promise.all(this.partitions.map((p, i) => this.readLoop(host, p, this.readers[i] as DataClient)));
    clearTimeout(this.reclaimTimer);
  }

  private parse(receipt: string): [number, string] {
    const space = receipt.indexOf(' ');
    return [Number(receipt.slice(0, space)), receipt.slice(space + 1)];
  }

  private async readLoop(host: TransportHost, p: PartitionKeys, reader: DataClient): Promise<void> {
    const { group, workerId, log } = this.options;
    let failures = 0;
    while (host.taking()) {
      const free = host.free();
      if (free <= 0) {
        await host.waitForSlot();
        continue;
      }
      // Each reader may ask for its fair share of the free slots even while the others' blocked reads
      // hold theirs (so a quiet partition never starves a busy one), and for whatever is unreserved.
      const share = Math.ceil(free / this.partitions.length);
      const count = Math.max(1, Math.min(READ_MAX, Math.max(share, free - this.reserved)));
      this.reserved += count;
      try {
        const read = await readPartition(reader, p, {
          group,
          consumer: workerId,
          count,
          blockMs: BLOCK_MS,
          withPriority: this.prioritized[p.index] === true,
        });
        failures = 0;
        this.reserved -= count;
        const deliveries = [
          ...read.prioritized.map(([entryId, fields]) => this.delivery(2 * p.index + 1, entryId, fields, 1)),
          ...read.normal.map(([entryId, fields]) => this.delivery(2 * p.index, entryId, fields, 1)),
        ];
        if (deliveries.length > 0) host.accept(deliveries);
      } catch (error) {
        this.reserved -= count;
        if (!host.taking()) break;
        failures += 1;
        const delay = Math.min(50 * 2 ** failures, 2_000);
        if ((error as Error).message.includes('NOGROUP')) {
          // The stream or group was deleted (a purge, or a data loss in a failover): recreate it.
          await this.client.xgroup('CREATE', p.stream, group, '0', 'MKSTREAM').catch(() => {});
          // The priority stream is made only by the leader: read it again once a reclaim pass sees it.
          this.prioritized[p.index] = false;
        }
        log.warn({ err: error, delayMs: delay, partition: p.index }, 'read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private delivery(lane: number, entryId: Buffer, fields: Buffer[], deliveries: number): Delivery {
    let id = '';
    let body: Buffer = Buffer.alloc(0);
    let earlier = 0;
    let previousAttempt: string | undefined;
    for (let f = 0; f + 1 < fields.length; f += 2) {
      const name = (fields[f] as Buffer).toString();
      const value = fields[f + 1] as Buffer;
      if (name === 'i') id = value.toString();
      else if (name === 'p') body = value;
      else if (name === 'n') earlier = Number(value.toString());
      // The span context of the attempt a traced nack retried (streamSettle, streamMaintain).
      else if (name === 'l') previousAttempt = value.toString();
    }
    const receipt = `${lane} ${entryId.toString()}`;
    return { receipt, id, body, attempt: earlier + deliveries, previousAttempt };
  }

  /**
   * Takes over, per partition, entries idle past the ack timeout (their consumer died or stalled):
   * from the partition stream, and from its priority stream once the partition has one (each pass
   * tells whether it has: that is how this worker learns to read it).
   */
  private async reclaim(host: TransportHost): Promise<void> {
    if (this.reclaiming || !host.taking()) return;
    this.reclaiming = true;
    const { group, workerId, ackTimeoutMs, maxAttempts, metrics, log } = this.options;
    try {
      for (const p of this.partitions) {
        for (const lane of [2 * p.index, 2 * p.index + 1]) {
          if (lane % 2 === 1 && !this.prioritized[p.index]) break;
          const room = host.free();
          if (room <= 0 || !host.taking()) return;
          const reply = await scripts.streamReclaim(this.client, this.lanes[lane] as PartitionKeys, {
            group,
            consumer: workerId,
            minIdleMs: ackTimeoutMs,
            count: Math.min(room, READ_MAX),
            maxAttempts,
          });
          if (reply.prioritized) this.prioritized[p.index] = true;
          if (reply.deadLettered > 0) metrics.deadLettered.inc(reply.deadLettered);
          const lost = reply.deletedWhilePending;
          if (lost > 0)
            log.error({ partition: p.index, lost }, 'pending entries were deleted from the stream');
          const deliveries: Delivery[] = reply.entries.map((entry) => ({
            receipt: `${lane} ${entry.entryId}`,
            id: entry.messageId,
            attempt: entry.attempt,
            body: entry.payload,
          }));
          if (deliveries.length > 0) {
            metrics.reclaimed.inc(deliveries.length);
            host.accept(deliveries);
          }
        }
      }
    } catch (error) {
      log.warn({ err: error }, 'reclaim failed; will retry');
    } finally {
      this.reclaiming = false;
    }
  }
}
