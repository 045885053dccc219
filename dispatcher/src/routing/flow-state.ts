import { type DataClient, type Keys, scripts } from '@redispatch/shared';
import type { DispatcherMetrics } from '../metrics.js';

/** Most held ids one apply moves back to the backlog after a resume (bounds the script's run time). */
const RELEASE_LIMIT = 1_000;

/**
 * What one leader term's routing obeys of flow control (docs/flow-control.md): paused or running, as
 * last applied by this leader's fenced flowApply call. Applied before the term's first write and on
 * every upkeep (REDISPATCH_REAP_INTERVAL_MS), so a failover neither loses a pause nor invents one: the state lives in Redis.
 * A pause takes effect for every write that starts after the apply's reply (a batch in flight was
 * sent before it on the same connection, so Redis ordered it first).
 */
export class FlowState {
  private paused = false;
  /** Lists mode: the scripts' keys while paused — the held list stands in for the backlog. */
  private readonly heldKeys: Keys;

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly epoch: number,
    private readonly metrics: DispatcherMetrics,
  ) {
    this.heldKeys = Object.freeze({ ...keys, backlog: keys.flowHeld });
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Lists mode: the keys the leader's scripts use now. Paused, their backlog is the held list, which
   * workers never take from (they take from the real backlog when their queue runs dry).
   */
  get routingKeys(): Keys {
    return this.paused ? this.heldKeys : this.keys;
  }

  /**
   * Applies the requested state (fenced: throws FencedError when superseded). Returns true while held
   * ids remain to be moved back after a resume (the caller runs another pass at once).
   */
  async apply(): Promise<boolean> {
    const applied = await scripts.flowApply(this.client, this.keys, {
      epoch: this.epoch,
      limit: RELEASE_LIMIT,
    });
    this.paused = applied.paused;
    this.metrics.paused.set(applied.paused ? 1 : 0);
    return !applied.paused && applied.held > 0;
  }

  clearGauges(): void {
    this.metrics.paused.set(0);
  }
}
