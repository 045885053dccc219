import type { EntryTracker } from './entry-tracker.js';
import type { DeadEntry, OutboundQueue } from './outbound-queue.js';

const RETRY_MS = 200;

/**
 * Batches the `finish` calls of one outbound queue: everything finished during one event-loop turn
 * goes in one script call, one call in flight at a time; a failed call is retried (finishing is
 * idempotent: an entry no longer in the processing list is skipped).
 */
export class Finisher {
  private done: Buffer[] = [];
  private dead: DeadEntry[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  constructor(
    private readonly queue: OutboundQueue,
    private readonly tracker: EntryTracker,
    private readonly onError: (error: unknown) => void,
  ) {}

  delivered(raw: Buffer): void {
    this.done.push(raw);
    this.schedule();
  }

  deadLetter(raw: Buffer, reason: string): void {
    this.dead.push({ raw, reason });
    this.schedule();
  }

  /** Resolves once everything handed in so far is finished (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (
      (this.done.length > 0 || this.dead.length > 0 || this.flushing !== undefined) &&
      Date.now() < deadline
    ) {
      await (this.flushing ?? this.flush());
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private flush(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing;
    if (this.done.length === 0 && this.dead.length === 0) return Promise.resolve();
    const done = this.done;
    const dead = this.dead;
    this.done = [];
    this.dead = [];
    this.flushing = this.queue.finish(done, dead).then(
      () => {
        this.tracker.remove(done);
        this.tracker.remove(dead.map((d) => d.raw));
        this.flushing = undefined;
        if (this.done.length > 0 || this.dead.length > 0) this.schedule();
      },
      async (error: unknown) => {
        this.done.unshift(...done);
        this.dead.unshift(...dead);
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        this.flushing = undefined;
        this.schedule();
      },
    );
    return this.flushing;
  }
}
