import type { Logger } from '@redispatch/shared';
import type { EntryTracker } from './entry-tracker.js';
import type { OutboundQueue } from './outbound-queue.js';

/** Blocking take wait, seconds (the blocking connection's command timeout allows for it). */
const BLOCK_SECONDS = 1;

export interface ConsumeLoopOptions {
  queue: OutboundQueue;
  tracker: EntryTracker;
  /** Handles one taken entry (it is tracked already); finishing it is the handler's job. */
  handle(raw: Buffer, nowMs: number): void;
  /** How many entries to take next; may wait until there is room. */
  room(): Promise<number>;
  /** Redis server time, ms. */
  serverTime(): Promise<number>;
  log: Logger;
  /** For log lines: 'replies' or 'HTTP replies'. */
  what: string;
}

/**
 * Takes entries from one outbound queue until stopped, retrying with backoff on errors. After an
 * error — or a reconnect of the blocking connection, whose re-sent BLMOVE may have followed one whose
 * reply was lost — it first handles what sits in its processing list untracked, so no entry is
 * stranded until a restart.
 */
export class ConsumeLoop {
  private stopped = false;
  private reconcileNeeded = false;
  private running: Promise<void> | undefined;

  constructor(private readonly o: ConsumeLoopOptions) {}

  start(): void {
    this.running = this.run();
  }

  /** The blocking connection reconnected: check the processing list before the next take. */
  reconcile(): void {
    this.reconcileNeeded = true;
  }

  /** Ends the loop after the current take (interrupt it by disconnecting the blocking connection). */
  halt(): void {
    this.stopped = true;
  }

  get done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const room = await this.o.room();
        if (this.stopped) break;
        if (failures > 0 || this.reconcileNeeded) {
          this.reconcileNeeded = false;
          const list = await this.o.queue.recover();
          const nowMs = await this.o.serverTime();
          const lost = this.o.tracker.untracked(list);
          if (lost.length > 0)
            this.o.log.warn(
              { entries: lost.length },
              `resuming ${this.o.what} a lost take reply left behind`,
            );
          for (const raw of lost) this.accept(raw, nowMs);
        }
        const taken = await this.o.queue.take(room, BLOCK_SECONDS);
        failures = 0;
        for (const raw of taken.entries) this.accept(raw, taken.nowMs);
      } catch (error) {
        if (this.stopped) break;
        failures += 1;
        const delay = Math.min(50 * 2 ** failures, 2_000);
        this.o.log.warn({ err: error, delayMs: delay }, `taking ${this.o.what} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private accept(raw: Buffer, nowMs: number): void {
    this.o.tracker.add(raw);
    this.o.handle(raw, nowMs);
  }
}
