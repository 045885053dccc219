import { type Config, joinDeployment, type Keys, scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { DispatcherMetrics } from '../../metrics.js';
import { DeadLetterTrim } from '../dead-letter-trim.js';
import { FlowState, rateSetting } from '../flow-state.js';
import { nextReleaseMs, type ReleaseResult } from '../rate-release.js';
import type { LeaderRouting, RoutingMode, UpkeepResult } from '../routing-mode.js';
import { BatchWriter } from './batch-writer.js';
import { KeyGate, keyLimitSetting } from './key-gate.js';
import { Reaper, type ReaperSettings } from './reaper.js';

/** Most held ids one rate-limit release moves (a burst larger than this takes several passes). */
const RELEASE_LIMIT = 1_000;

/** What lists mode reads from the configuration (its writer's and its reaper's settings). */
export type ListsModeSettings = ReaperSettings &
  Pick<
    Config,
    | 'prefix'
    | 'partitions'
    | 'queueHighWater'
    | 'maxPayloadBytes'
    | 'routing'
    | 'dedupeWindowMs'
    | 'dlqMax'
    | 'rateLimit'
    | 'rateBurst'
    | 'keyConcurrency'
    | 'keyRateLimit'
    | 'keyRateBurst'
  >;

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
    const rate = rateSetting(config.rateLimit, config.rateBurst);
    const flow = new FlowState(redis, keys, epoch, metrics, rate);
    const keyLimits = keyLimitSetting(config.keyConcurrency, config.keyRateLimit, config.keyRateBurst);
    const keyGate = new KeyGate(redis, keys, epoch, metrics, flow, keyLimits, {
      highWater: config.queueHighWater,
      workerTtlMs: config.workerTtlMs,
      sticky: config.routing === 'affinity',
    });
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
      flow,
      keyGate,
    });
    // Paused, the reaper's requeues and promotions go to the held list too (flow.routingKeys).
    const reaper = new Reaper(redis, () => flow.routingKeys, config, epoch, metrics, keyGate);
    const trim = new DeadLetterTrim(redis, keys, config.dlqMax, metrics);
    const upkeep = async (): Promise<UpkeepResult> => {
      const releasing = await flow.apply();
      // With a key rate limit its own loop lets held keys in; a concurrency limit alone needs only this look.
      const keysMore = keyLimits.kind === 'limited' && keyLimits.rate === 0 ? await keyGate.upkeep() : false;
      const result = await reaper.reap();
      writer.setLiveWorkers(result.liveWorkers.map((w) => w.id));
      const trimMore = await trim.run();
      return {
        liveWorkers: result.liveWorkers.length,
        backlog: result.backlog,
        more: result.more || releasing || trimMore || keysMore,
        paused: flow.isPaused,
      };
    };
    // The first upkeep applies the flow state and learns the live workers before the first batch; the
    // gate stores this term's per-key limits (and re-checks what an earlier term held) before it too.
    await flow.apply();
    await keyGate.takeOver();
    await upkeep();
    const releaseCluster = async (): Promise<ReleaseResult> => {
      if (rate.kind !== 'limited' || flow.isPaused) return { released: 0, nextMs: nextReleaseMs(0, false) };
      const { released, held, waitMs } = await scripts.flowRelease(redis, keys, {
        epoch,
        rate: rate.rate,
        burst: rate.burst,
        limit: RELEASE_LIMIT,
      });
      metrics.released.inc(released);
      return { released, nextMs: nextReleaseMs(waitMs, held > 0) };
    };
    // A key rate limit's loop runs first, so what it lets in goes through the cluster-wide bucket too.
    const keyRate = keyLimits.kind === 'limited' && keyLimits.rate > 0;
    const release = async (): Promise<ReleaseResult> => {
      const keyed = keyRate ? await keyGate.release() : undefined;
      const cluster = await releaseCluster();
      if (!keyed) return cluster;
      // Behind a cluster-wide limit the key's messages went to the held list: only its bucket's reach workers.
      const released = rate.kind === 'limited' ? cluster.released : keyed.released;
      return { released, nextMs: Math.min(keyed.nextMs, cluster.nextMs) };
    };
    return {
      write: (batch) => writer.write(batch),
      upkeep,
      // Holding (paused or rate-limited), the tick waits in the held list like any accepted message.
      fireTick: (tick) =>
        scripts.scheduleFire(redis, { ...keys, backlog: flow.routingKeys.backlog }, { epoch, ...tick }),
      ...(rate.kind === 'limited' || keyRate ? { release } : {}),
      clearGauges: () => {
        reaper.clearGauges();
        flow.clearGauges();
        keyGate.clearGauges();
      },
      nextDueInMs: () => scripts.delayedHead(redis, keys),
    };
  }
}
