import type { Logger } from '@redispatch/shared';
import type { LeaderLease } from './leader-lease.js';

/**
 * Renews the lease every lease/3 from the moment it is won: the takeover itself (raising the epoch,
 * reading the marker) may take a while, and the lease must not run out under it. Runs while
 * `isCurrent` says this process is still taking over or leading; a failed renewal calls `onFailed`.
 */
export class LeaseRenewal {
  private timer: NodeJS.Timeout | undefined;
  private state: 'running' | 'stopped' = 'running';

  constructor(
    private readonly lease: LeaderLease,
    private readonly leaseMs: number,
    private readonly isCurrent: () => boolean,
    private readonly onFailed: () => Promise<void>,
    private readonly log: Logger,
  ) {
    this.schedule();
  }

  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.timer);
  }

  private schedule(): void {
    this.timer = setTimeout(async () => {
      if (this.state === 'stopped' || !this.isCurrent()) return;
      try {
        await this.lease.renew();
        if (this.state === 'running' && this.isCurrent()) this.schedule();
      } catch (error) {
        this.log.error({ err: error }, 'lease renewal failed; stepping down');
        await this.onFailed();
      }
    }, this.leaseMs / 3);
  }
}
