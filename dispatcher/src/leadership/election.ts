import { hostname } from 'node:os';
import {
  type DataClient,
  FencedError,
  type Keys,
  LeadershipLostError,
  type Logger,
  scripts,
} from '@redispatch/shared';
import { EpochBehindError, type LeaderRouting, type RoutingMode } from '../routing/routing-mode.js';
import type { LeaderLease } from './leader-lease.js';
import { LeaseRenewal } from './lease-renewal.js';

export interface ElectionOptions {
  id: string;
  redis: DataClient;
  keys: Keys;
  mode: RoutingMode;
  lease: LeaderLease;
  leaseMs: number;
  log: Logger;
  /** False once this election was abandoned (stepped down, shutting down): stop retrying. */
  isCurrent: () => boolean;
  /** True while the lease should be renewed (taking over or leading). */
  isRenewing: () => boolean;
  onRenewalFailed: () => Promise<void>;
}

/** What a successful takeover hands the leader's term. */
export interface Elected {
  epoch: number;
  routing: LeaderRouting;
  /** The old leader's progress marker, read after the epoch was raised. */
  marker: string;
}

/**
 * From winning the lease to being ready to lead: raise the epoch (fencing out any older leader) and
 * the mode's own fences, then read the old leader's progress marker. A transient error is retried
 * while the lease holds: this process may hold the only complete buffer, and a command timeout on
 * a loaded box must not hand the takeover to a standby that heard less.
 */
export class Election {
  /** The epoch raised so far (0 before the first raise); a failed takeover resigns with it. */
  epoch = 0;

  /** Keeps the lease from the moment it is won; handed to the leader's term when it starts. */
  readonly renewal: LeaseRenewal;

  constructor(private readonly options: ElectionOptions) {
    const { lease, leaseMs, isRenewing, onRenewalFailed, log } = options;
    this.renewal = new LeaseRenewal(lease, leaseMs, isRenewing, onRenewalFailed, log);
  }

  /** An abandoned election: stop renewing (the dispatcher releases the lease). */
  end(): void {
    this.renewal.stop();
  }

  async run(): Promise<Elected> {
    const { lease, mode } = this.options;
    const routing = await this.whileLeased('taking over', () => lease.guard(() => this.elect()));
    // Read after the epoch was raised: no older leader can move the marker any more.
    const marker = await this.whileLeased('reading the progress marker', () => mode.readProgress());
    return { epoch: this.epoch, routing, marker };
  }

  /**
   * Raises the epoch and the mode's own fences. In streams mode a partition fence can be ahead of
   * the epoch key when a cluster failover lost the key's last writes; the epoch is then raised past
   * that fence and the takeover tried once more.
   */
  private async elect(floor = 0): Promise<LeaderRouting> {
    const { redis, keys, id, leaseMs, mode, log } = this.options;
    this.epoch = await scripts.elect(redis, keys, { id, host: hostname(), pid: process.pid, leaseMs, floor });
    try {
      return await mode.takeOver(this.epoch);
    } catch (error) {
      if (error instanceof EpochBehindError && floor === 0) {
        log.warn({ epoch: error.epoch, fence: error.floor }, 'epoch behind a partition fence; raising it');
        return this.elect(error.floor);
      }
      throw error;
    }
  }

  /**
   * Runs a takeover step again after a transient failure, for as long as this process still holds
   * the lease. Fencing and lost leadership are final; so is an abandoned election (shutting down).
   * Retrying elect() raises the epoch again, which only supersedes the failed attempt's fences.
   */
  private async whileLeased<T>(step: string, run: () => Promise<T>): Promise<T> {
    const { lease, leaseMs, log, isCurrent } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const final =
          error instanceof FencedError ||
          error instanceof LeadershipLostError ||
          !isCurrent() ||
          !lease.held ||
          lease.validForMs() < leaseMs / 4;
        if (final) throw error;
        log.warn({ err: error, step, attempt }, 'takeover step failed; retrying while the lease holds');
        await new Promise((resolve) => setTimeout(resolve, Math.min(25 * 2 ** attempt, 200)));
      }
    }
  }
}
