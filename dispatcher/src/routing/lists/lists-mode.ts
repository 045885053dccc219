import { type Config, joinDeployment, type Keys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { DispatcherMetrics } from '../../metrics.js';
import type { LeaderRouting, RoutingMode, UpkeepResult } from '../routing-mode.js';
import { BatchWriter } from './batch-writer.js';
import { Reaper, type ReaperSettings } from './reaper.js';

/** What lists mode reads from the configuration (its writer's and its reaper's settings). */
export type ListsModeSettings = ReaperSettings &
  Pick<Config, 'prefix' | 'partitions' | 'queueHighWater' | 'maxPayloadBytes' | 'routing' | 'dedupeWindowMs'>;

/**
 * Lists mode: one fence (the epoch key itself, beside the data in one slot), per-worker queues
 * written by BatchWriter, and the Reaper's single fenced call per tick.
 */
export class ListsMode implements RoutingMode {
  readonly name = 'lists' as const;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly config: ListsModeSettings,
    private readonly metrics: DispatcherMetrics,
  ) {}

  /**
   * Refuses a prefix of another mode (guarantee 8). Reads only: a standby writes nothing, so a data
   * Redis that holds writes (CLIENT PAUSE WRITE, a failover) cannot fail its start; the stamp is the
   * leader's first takeover step, retried with the others while the lease holds.
   */
  async prepare(): Promise<void> {
    await this.join(false);
  }

  private join(stamp: boolean): Promise<unknown> {
    return joinDeployment(this.redis, this.keys, {
      prefix: this.config.prefix,
      mode: 'lists',
      partitions: this.config.partitions,
      stamp,
      loadPartitions: false,
    });
  }

  async readProgress(): Promise<string> {
    return (await this.redis.get(this.keys.progress)) ?? '';
  }

  async takeOver(epoch: number): Promise<LeaderRouting> {
    // Stamps a new deployment as lists (a streams process that stamped first is refused here).
    await this.join(true);
    const { redis, keys, config, metrics } = this;
    const writer = new BatchWriter({
      redis,
      keys,
      epoch,
      highWater: config.queueHighWater,
      maxPayloadBytes: config.maxPayloadBytes,
      workerTtlMs: config.workerTtlMs,
      routing: config.routing,
      dedupeWindowMs: config.dedupeWindowMs,
      metrics,
    });
    const reaper = new Reaper(redis, keys, config, epoch, metrics);
    const upkeep = async (): Promise<UpkeepResult> => {
      const result = await reaper.reap();
      writer.setLiveWorkers(result.liveWorkers.map((w) => w.id));
      return { liveWorkers: result.liveWorkers.length, backlog: result.backlog, more: result.more };
    };
    // The first reap learns the live workers before the first batch is routed.
    await upkeep();
    return {
      write: (batch) => writer.write(batch),
      upkeep,
      clearGauges: () => reaper.clearGauges(),
      nextDueInMs: () => scripts.delayedHead(redis, keys),
    };
  }
}
