import { type DataClient, type Keys, scripts } from '@redispatch/shared';
import type { DispatcherMetrics } from '../metrics.js';

/** Most held ids one apply moves back to the backlog after a resume (bounds the script's run time). */
const RELEASE_LIMIT = 1_000;

/** The cluster-wide rate limit (REDISPATCH_RATE_LIMIT, REDISPATCH_RATE_BURST), or none. */
export type RateSetting = { kind: 'none' } | ({ kind: 'limited' } & scripts.RateLimit);

/** The rate setting from the configuration: burst 0 means one second of the limit. */
export function rateSetting(rateLimit: number, rateBurst: number): RateSetting {
  if (rateLimit <= 0) return { kind: 'none' };
  return { kind: 'limited', rate: rateLimit, burst: rateBurst > 0 ? rateBurst : rateLimit };
}

/**
 * What one leader term's routing obeys of flow control (docs/flow-control.md): paused or running, as
 * last applied by this leader's fenced flowApply call, and the rate limit. Applied before the term's
 * first write and on every upkeep (REDISPATCH_REAP_INTERVAL_MS), so a failover neither loses a pause
 * nor invents one: the state lives in Redis. A pause takes effect for every write that starts after
 * the apply's reply (a batch in flight was sent before it on the same connection, so Redis ordered it
 * first). With a rate limit, nothing reaches a worker but through the bucket (`release`).
 */
export class FlowState {
  private paused = false;
  /** Lists mode: the scripts' keys while holding — the held list stands in for the backlog. */
  private readonly heldKeys: Keys;

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly epoch: number,
    private readonly metrics: DispatcherMetrics,
    readonly rate: RateSetting = { kind: 'none' },
  ) {
    this.heldKeys = Object.freeze({ ...keys, backlog: keys.flowHeld });
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Messages are held for the leader to release (paused, or a rate limit is set). */
  get isHolding(): boolean {
    return this.paused || this.rate.kind === 'limited';
  }

  /**
   * Lists mode: the keys the leader's scripts use now. Holding, their backlog is the held list, which
   * workers never take from (they take from the real backlog when their queue runs dry).
   */
  get routingKeys(): Keys {
    return this.isHolding ? this.heldKeys : this.keys;
  }

  /**
   * Applies the requested state (fenced: throws FencedError when superseded). Returns true while held
   * ids remain to be moved back after a resume (the caller runs another pass at once).
   */
  async apply(): Promise<boolean> {
    const applied = await scripts.flowApply(this.client, this.keys, {
      epoch: this.epoch,
      // With a rate limit the held list drains through the bucket, never all at once.
      limit: this.rate.kind === 'limited' ? 0 : RELEASE_LIMIT,
    });
    this.paused = applied.paused;
    this.metrics.paused.set(applied.paused ? 1 : 0);
    return this.rate.kind === 'none' && !applied.paused && applied.held > 0;
  }

  clearGauges(): void {
    this.metrics.paused.set(0);
  }
}
