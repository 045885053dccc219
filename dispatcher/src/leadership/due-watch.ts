export interface DueWatchOptions {
  /** How often to read the earliest due time; 0 turns the watch off (due entries wait for a reap). */
  checkMs: number;
  /** Ms until the earliest delayed entry is due (server clock), undefined when none. */
  nextDueInMs: () => Promise<number | undefined>;
  /** Something is due now: reap (promotion is the reaper's job, fenced). */
  onDue: () => void;
}

/**
 * Delayed messages and retry backoff on time. The reap tick (default 200 ms) alone made them up to a
 * tick late. The delayed set is the truth (a new leader reads it; retries are written there by the
 * workers' settles, which the leader does not see), so the leader reads its earliest due time every
 * `checkMs` — one read-only call — and when that falls before the next read, arms a timer for the
 * moment it is due and reaps then.
 */
export class DueWatch {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: DueWatchOptions) {}

  start(): void {
    if (this.options.checkMs > 0) this.next(this.options.checkMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private next(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check(), ms);
  }

  private async check(): Promise<void> {
    let wait: number | undefined;
    try {
      wait = await this.options.nextDueInMs();
    } catch {
      wait = undefined; // The reap tick still promotes; try again at the next check.
    }
    if (this.stopped) return;
    const { checkMs } = this.options;
    if (wait === undefined || wait > checkMs) {
      this.next(checkMs);
      return;
    }
    // Due before the next read. At most one reap per `checkMs` from here, even when an entry stays
    // overdue (a steady stream of delays keeps the head due; a failing reap is retried at that pace).
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      this.options.onDue();
      this.next(checkMs);
    }, wait);
  }
}
