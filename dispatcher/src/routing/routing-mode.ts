import type { Batch } from './batcher.js';
import type { ReleaseResult } from './rate-release.js';
import type { FireTick } from './schedules/scheduler.js';

/** What a leader's periodic upkeep found. */
export interface UpkeepResult {
  liveWorkers: number;
  /** Accepted messages no worker has taken yet (lists: backlog list; streams: undelivered entries). */
  backlog: number;
  /** True when a limit was hit and another pass should follow at once. */
  more: boolean;
  /** Routing is paused (flow control): nothing is handed to workers, so freed room needs no write. */
  paused: boolean;
}

/** The routing a leader runs for one epoch: batch writes and periodic upkeep, both fenced. */
export interface LeaderRouting {
  /** Writes one batch durably (retried by the batcher on error; must be idempotent per batch). */
  write(batch: Batch): Promise<void>;
  /** Redelivery, delayed promotion, trimming, dead workers; throws FencedError when superseded. */
  upkeep(): Promise<UpkeepResult>;
  /**
   * With a rate limit: releases what the token bucket allows (fenced) and says when to call again;
   * absent when no rate limit is set (then nothing per message or per tick is added).
   */
  release?: () => Promise<ReleaseResult>;
  /** Writes one schedule tick, fenced, at most once per tick across leaders (docs/flow-control.md). */
  fireTick: FireTick;
  /** Zeroes the cluster-wide gauges when this process stops leading. */
  clearGauges(): void;
  /** Ms until the earliest delayed message or retry is due (server clock), undefined when none. */
  nextDueInMs(): Promise<number | undefined>;
}

/**
 * One routing mode (`lists` or `streams`): how a standby reads the old leader's progress marker and
 * how a new leader fences out older ones on the mode's own structures before its first write.
 */
export interface RoutingMode {
  readonly name: 'lists' | 'streams';
  /**
   * Joins the deployment (refusing one of another shape, shared/src/deployment) and prepares the
   * mode's structures (streams: the partition table); called once at start, before any write.
   */
  prepare(): Promise<void>;
  /** The replay marker of the last batch a leader wrote, or '' when none was written yet. */
  readProgress(): Promise<string>;
  /** Raises the mode's fences to `epoch` and returns the routing to lead with. */
  takeOver(epoch: number): Promise<LeaderRouting>;
}

/** A partition fence is at or ahead of the epoch just taken (the epoch key lost writes in a cluster failover). */
export class EpochBehindError extends Error {
  override readonly name = 'EpochBehindError';
  constructor(
    readonly epoch: number,
    readonly floor: number,
  ) {
    super(`epoch ${epoch} is behind a partition fence at ${floor}`);
  }
}
