import type { Logger } from '@redispatch/shared';
import type { CatchUp } from '../standby/catch-up.js';
import type { LeaderLease } from './leader-lease.js';

export interface CampaignOptions {
  lease: LeaderLease;
  leaseMs: number;
  catchUp: CatchUp;
  log: Logger;
  /** The dispatcher's public state is `standby` (idle, or taking over). */
  isStandby: () => boolean;
  /** A standby that is not taking over right now. */
  isIdleStandby: () => boolean;
  /** The lease is won: take over. Resolves when leading, or when the takeover failed (stepped down). */
  onWon: () => Promise<void>;
}

/**
 * A standby's campaign for the lease: at once when it is caught up and hears the leader resign,
 * every lease/4 (with jitter) otherwise, and only slowly when it is not caught up (someone must lead,
 * but one that missed messages should not win a race it cannot replay).
 */
export class Campaign {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CampaignOptions) {}

  schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), delayMs);
  }

  cancel(): void {
    clearTimeout(this.timer);
  }

  /** A standby that is not caught up still campaigns (someone must lead), but only after others had ample time. */
  slowDelay(): number {
    return this.options.leaseMs * (2 + Math.random());
  }

  private async run(): Promise<void> {
    const { lease, leaseMs, catchUp, log, isStandby, isIdleStandby, onWon } = this.options;
    if (!isIdleStandby()) return;
    if (catchUp.inGap) {
      const gate = await catchUp.gate();
      // Resubscribing schedules the next try.
      if (gate === 'wait-for-resubscribe') return;
      if (gate === 'retry-soon') {
        this.schedule(leaseMs / 4);
        return;
      }
      if (!isIdleStandby()) return;
    }
    try {
      await lease.acquire();
    } catch (error) {
      if (isStandby()) {
        const name = (error as Error).name;
        if (name !== 'LeaseContendedError') log.warn({ err: error }, 'lease acquisition failed');
        // lease/4 with ±25% jitter so standbys do not stampede the lock masters together.
        const base = leaseMs / 4;
        // After a gap, the gate above decides; retry at the normal pace.
        this.schedule(
          catchUp.caughtUp || catchUp.inGap ? base * (0.75 + Math.random() * 0.5) : this.slowDelay(),
        );
      }
      return;
    }
    if (!isStandby()) {
      await lease.release();
      return;
    }
    await onWon();
    // A takeover that failed before it started leading must not leave this standby idle for good.
    if (isStandby()) this.schedule(leaseMs);
  }
}
