import type { DecodedHeader, Keys } from '@redispatch/shared';
import { scripts } from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { DispatcherMetrics } from '../../metrics.js';
import type { FlowState } from '../flow-state.js';
import { IDLE_RELEASE_MS, MIN_RELEASE_MS, type ReleaseResult } from '../rate-release.js';

/** Most held messages one release call lets in (and waiting keys it looks at). */
const KEY_RELEASE_LIMIT = 1_000;

/** The per-key limits (REDISPATCH_KEY_CONCURRENCY, REDISPATCH_KEY_RATE_LIMIT/_BURST), or none. */
export type KeyLimitSetting = { kind: 'none' } | ({ kind: 'limited' } & scripts.KeyLimits);

/** From the configuration: burst 0 means one second of the rate, at least one message. */
export function keyLimitSetting(concurrency: number, rate: number, burst: number): KeyLimitSetting {
  if (concurrency <= 0 && rate <= 0) return { kind: 'none' };
  const resolvedBurst = rate > 0 ? (burst > 0 ? burst : Math.max(1, Math.ceil(rate))) : 1;
  return {
    kind: 'limited',
    concurrency: Math.max(0, concurrency),
    rate: Math.max(0, rate),
    burst: resolvedBurst,
  };
}

/**
 * Lists mode, per-key limits (docs/flow-control.md, Per-key limits): the gate itself is in the scripts
 * (shared/src/redis/lua/includes/list-key-gate.lua) and its state in Redis; the leader only marks each
 * keyed message for it (`placementSuffix`), stores its limits and lets held messages in where a
 * settle does not: when a key's next token is due, and on takeover (a new leader re-checks every
 * waiting key under its own limits, or releases them all when it has none).
 */
export class KeyGate {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly epoch: number,
    private readonly metrics: DispatcherMetrics,
    private readonly flow: FlowState,
    readonly setting: KeyLimitSetting,
    /** Where a settle sends a key's next message (stored beside the limits for the settle scripts). */
    private readonly routing: Pick<scripts.KeyReleaseArgs, 'highWater' | 'workerTtlMs' | 'sticky'>,
  ) {}

  /** Appended to a keyed message's placement while a limit is set: NUL + its affinity key; else ''. */
  placementSuffix(header: DecodedHeader): string {
    if (this.setting.kind === 'none' || header.affinityKey === undefined) return '';
    return `\0${header.affinityKey}`;
  }

  /** Counts what a write or a reap held back. */
  countHeld(concurrency: number, rate: number): void {
    if (concurrency > 0) this.metrics.keyHeld.inc({ limit: 'concurrency' }, concurrency);
    if (rate > 0) this.metrics.keyHeld.inc({ limit: 'rate' }, rate);
  }

  /**
   * Before the term's first write: stores this leader's limits (or clears them) and re-checks every
   * waiting key, passes back to back. One call when nothing waits (the cost of the feature when unused).
   */
  async takeOver(): Promise<void> {
    for (;;) {
      const reply = await this.call('all');
      if (!reply.more) return;
    }
  }

  /** Upkeep (a concurrency limit alone): the gauge, and a look at any key whose token is due. */
  async upkeep(): Promise<boolean> {
    if (this.setting.kind === 'none' || this.flow.isPaused) return false;
    return (await this.call('due')).more;
  }

  /** The rate limit's loop: lets in what is due and says when the next key's token is. */
  async release(): Promise<ReleaseResult> {
    if (this.setting.kind === 'none' || this.flow.isPaused) return { released: 0, nextMs: IDLE_RELEASE_MS };
    const reply = await this.call('due');
    const nextMs = reply.more
      ? 0
      : reply.waitMs < 0
        ? IDLE_RELEASE_MS
        : Math.min(IDLE_RELEASE_MS, Math.max(MIN_RELEASE_MS, reply.waitMs));
    return { released: reply.admitted, nextMs };
  }

  clearGauges(): void {
    this.metrics.keysWaiting.set(0);
  }

  private async call(mode: 'due' | 'all'): Promise<scripts.KeyReleaseReply> {
    const limits = this.setting.kind === 'none' ? { concurrency: 0, rate: 0, burst: 1 } : this.setting;
    const reply = await scripts.keyRelease(
      this.redis,
      { ...this.keys, backlog: this.flow.routingKeys.backlog },
      {
        epoch: this.epoch,
        concurrency: limits.concurrency,
        rate: limits.rate,
        burst: limits.burst,
        hold: this.flow.rate.kind === 'limited',
        limit: KEY_RELEASE_LIMIT,
        mode,
        ...this.routing,
      },
    );
    this.metrics.keysWaiting.set(reply.keysWaiting);
    return reply;
  }
}
