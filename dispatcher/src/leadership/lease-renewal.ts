import type { Logger } from '@redispatch/shared';
import type { LeaderLease } from './leader-lease.js';

/**
 * Renews the lease every lease/3 from the moment it is won: the takeover itself (raising the epoch,
 * reading the marker) may take a while, and the lease must not run out under it. Runs while
 * `isCurrent` says this process is still taking over or leading.
 *
 * A failed attempt (a frozen or slow lock master) is retried while the current lease provably holds
 * on the monotonic clock: one slow master among three must not cost a leader change. `onFailed` is
 * called only when the validity left is nearly spent (under `marginMs`), whether an attempt is still
 * in flight or not, so the step-down always comes before the lease can lapse.
 */
export class LeaseRenewal {
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private state: 'running' | 'stopped' = 'running';
  /** Validity below which the leader steps down instead of trying again. */
  private readonly marginMs: number;
  /** Pause between a failed attempt and the next, so a master that refuses at once is not hammered. */
  private readonly retryPauseMs: number;

  constructor(
    private readonly lease: LeaderLease,
    private readonly leaseMs: number,
    private readonly isCurrent: () => boolean,
    private readonly onFailed: () => Promise<void>,
    private readonly log: Logger,
  ) {
    this.marginMs = Math.max(20, Math.floor(leaseMs / 20));
    this.retryPauseMs = Math.max(5, Math.floor(leaseMs / 100));
    this.schedule(this.leaseMs / 3);
  }

  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
  }

  /** Still renewing: not stopped, and this process is still taking over or leading. */
  private live(): boolean {
    return this.state === 'running' && this.isCurrent();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.attempt(1), delayMs);
  }

  private async attempt(attempt: number): Promise<void> {
    if (!this.live()) return;
    this.armDeadline();
    try {
      await this.lease.renew();
      clearTimeout(this.deadline);
      if (attempt > 1) this.log.info({ attempt }, 'lease renewed after a retry');
      if (this.live()) this.schedule(this.leaseMs / 3);
    } catch (error) {
      if (!this.live()) return;
      const validForMs = Math.round(this.lease.validForMs());
      if (validForMs - this.retryPauseMs > this.marginMs) {
        this.log.warn(
          { err: error, attempt, validForMs },
          'lease renewal failed; retrying while the lease holds',
        );
        this.timer = setTimeout(() => void this.attempt(attempt + 1), this.retryPauseMs);
        return;
      }
      clearTimeout(this.deadline);
      this.log.error({ err: error, attempt, validForMs }, 'lease renewal failed; stepping down');
      await this.giveUp();
    }
  }

  /** Steps down when the validity left reaches the margin, even with an attempt still unanswered. */
  private armDeadline(): void {
    clearTimeout(this.deadline);
    const left = this.lease.validForMs() - this.marginMs;
    this.deadline = setTimeout(
      () => {
        if (!this.live()) return;
        // Timers and the monotonic clock can disagree by a millisecond: not yet due, arm again.
        if (this.lease.validForMs() > this.marginMs) return this.armDeadline();
        this.log.error(
          { validForMs: Math.round(this.lease.validForMs()) },
          'lease nearly spent with no renewal; stepping down',
        );
        void this.giveUp();
      },
      Math.max(0, left),
    );
  }

  private async giveUp(): Promise<void> {
    if (this.state === 'stopped') return;
    this.stop();
    await this.onFailed();
  }
}
