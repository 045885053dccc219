/**
 * Where a settle loop is: `idle` (nothing scheduled, nothing in flight; a failed write may be
 * pausing), `scheduled` (a write runs on the next event-loop turn), `writing` (one write in flight;
 * what arrives meanwhile waits for the next).
 */
export type SettleLoopState = 'idle' | 'scheduled' | 'writing';

/** What a mode's settler gives its loop: what is pending, and how one batch of it is written. */
export interface SettleWork<Batch, Outcome> {
  hasPending(): boolean;
  /** Removes everything pending, for one write. */
  take(): Batch;
  /** One settle write; throwing means none of `batch` is known to be settled. */
  write(batch: Batch): Promise<Outcome>;
  /** Accounts for a write that returned; true if part of it failed (and was put back): pause. */
  settled(batch: Batch, outcome: Outcome): boolean;
  /** Puts back a batch whose write threw, and reports the error. */
  failed(batch: Batch, error: unknown): void;
}

const RETRY_MS = 100;

/**
 * One settle write in flight, flushed on the next event-loop turn (no timer: an idle worker adds no
 * latency, a busy one coalesces a turn's acks into one call). After a failure the slot is released
 * first and only then the loop pauses, so work handed in meanwhile (or a drain) is not held back.
 * Retrying is safe: settling is idempotent.
 */
export class SettleLoop<Batch, Outcome> {
  private current: SettleLoopState = 'idle';
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly work: SettleWork<Batch, Outcome>) {}

  get state(): SettleLoopState {
    return this.current;
  }

  /** Asks for a write on the next turn (or after the one in flight). */
  request(): void {
    if (this.current !== 'idle') return;
    this.current = 'scheduled';
    setImmediate(() => {
      this.current = 'idle';
      void this.run();
    });
  }

  /** Releases drain waiters if nothing is pending and no write is in flight. */
  notifyIfIdle(): void {
    if (!this.work.hasPending() && this.current !== 'writing') this.releaseWaiters();
  }

  /** Resolves once everything handed in so far is settled (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.work.hasPending() && this.current !== 'writing') return;
    this.request();
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  private async run(): Promise<void> {
    if (!this.work.hasPending()) {
      this.releaseWaiters();
      return;
    }
    const batch = this.work.take();
    this.current = 'writing';
    let pause: boolean;
    try {
      const outcome = await this.work.write(batch);
      this.current = 'idle';
      pause = this.work.settled(batch, outcome);
    } catch (error) {
      this.current = 'idle';
      this.work.failed(batch, error);
      pause = true;
    }
    if (pause) await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    if (this.work.hasPending()) this.request();
    else this.notifyIfIdle();
  }

  private releaseWaiters(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
