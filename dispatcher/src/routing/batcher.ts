/**
 * Gathers what arrives during one event-loop turn into one batch, with at most one write in
 * flight. An idle loop flushes on the next turn (no timer), so latency at low rates is one round
 * trip; under load, messages pile up while a write is in flight and go out together in the next.
 * A failed write keeps its batch (same ids) and retries it with backoff: the write is idempotent.
 */
import type { Received } from '../standby/replay-buffer.js';

export interface Batch {
  ids: string[];
  payloads: Buffer[];
  /** The replay marker of the last payload, stored as the leader's progress ('' for none). */
  marker: string;
  /** What was batched, in order (kept when the batch cannot be proven written). */
  received: Received[];
  /** Transport acks (JetStream), called after the batch is written. */
  acks: ((() => void) | undefined)[];
}

export interface BatcherOptions {
  maxBatch: number;
  /** Writes one batch; throws to have it retried (FencedError is passed to `onFatal` instead). */
  write: (batch: Batch) => Promise<void>;
  nextId: () => string;
  /** An error after which the batcher stops (e.g. fenced); it keeps what it holds. */
  isFatal: (error: unknown) => boolean;
  onFatal: (error: unknown) => void;
  onRetry: (error: unknown, delayMs: number) => void;
  /**
   * Bounds on what the batcher holds unwritten (pending plus the batch in hand). Crossing either calls
   * `onFull` once: the leader steps down (its standbys heard the same messages) instead of growing
   * its heap while every write fails.
   */
  maxPendingBytes: number;
  maxPending: number;
  onFull: (held: { count: number; bytes: number }) => void;
}

const RETRY_MIN_MS = 20;
const RETRY_MAX_MS = 1_000;

export class Batcher {
  private pending: Received[] = [];
  private retrying: Batch | undefined;
  /** The batch whose write is awaiting its reply (its outcome unknown until then). */
  private inFlight: Batch | undefined;
  private writing = false;
  private scheduled = false;
  private stopped = false;
  private kicked = false;
  private retryDelay = RETRY_MIN_MS;
  private idleWaiters: (() => void)[] = [];
  /** Payload bytes in `pending`, and in the batch in hand (retrying or in flight). */
  private pendingBytes = 0;
  private batchBytes = 0;
  private full = false;

  constructor(private readonly options: BatcherOptions) {}

  get pendingCount(): number {
    return this.pending.length + (this.retrying?.ids.length ?? 0);
  }

  /** Payload bytes held unwritten: pending plus the batch in hand. */
  get heldBytes(): number {
    return this.pendingBytes + this.batchBytes;
  }

  add(received: Received): void {
    this.pending.push(received);
    this.pendingBytes += received.payload.length;
    if (
      !this.full &&
      (this.heldBytes > this.options.maxPendingBytes || this.pendingCount > this.options.maxPending)
    ) {
      this.full = true;
      this.options.onFull({ count: this.pendingCount, bytes: this.heldBytes });
    }
    this.schedule();
  }

  /** Asks for a write even with nothing new (drains the backlog into freed room). */
  kick(): void {
    this.kicked = true;
    this.schedule();
  }

  /** Resolves when nothing is pending or in flight (or the batcher stopped). */
  async drain(): Promise<void> {
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops writing; returns what was not proven written, in arrival order: also the batch in flight,
   * whose reply may never come (a leader stepping down because Redis went away mid-write). Keeping it
   * can only replay it (a duplicate, counted), never lose it.
   */
  stop(): Received[] {
    this.stopped = true;
    const retrying = this.retrying ?? this.inFlight;
    const unwritten = retrying ? retrying.received : [];
    const left = [...unwritten, ...this.pending];
    this.pending = [];
    this.pendingBytes = 0;
    this.batchBytes = 0;
    this.retrying = undefined;
    this.notifyIdle();
    return left;
  }

  private isIdle(): boolean {
    return this.stopped || (!this.writing && this.pendingCount === 0 && !this.kicked);
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private takeBatch(): Batch {
    if (this.retrying) return this.retrying;
    const taken =
      this.pending.length <= this.options.maxBatch
        ? this.pending
        : this.pending.slice(0, this.options.maxBatch);
    this.pending = taken === this.pending ? [] : this.pending.slice(this.options.maxBatch);
    const bytes = taken.reduce((sum, r) => sum + r.payload.length, 0);
    this.pendingBytes -= bytes;
    this.batchBytes = bytes;
    return {
      ids: taken.map(() => this.options.nextId()),
      payloads: taken.map((r) => r.payload),
      // Only the last message's marker is stored: hash three payloads per batch, not per message.
      marker: taken.at(-1)?.marker ?? '',
      received: taken,
      acks: taken.map((r) => r.ack),
    };
  }

  private async flush(): Promise<void> {
    if (this.writing || this.stopped) return;
    if (this.pendingCount === 0 && !this.kicked) {
      this.notifyIdle();
      return;
    }
    this.kicked = false;
    const batch = this.takeBatch();
    this.writing = true;
    this.inFlight = batch;
    try {
      await this.options.write(batch);
      this.retrying = undefined;
      this.batchBytes = 0;
      this.retryDelay = RETRY_MIN_MS;
    } catch (error) {
      if (this.options.isFatal(error)) {
        this.retrying = batch;
        this.writing = false;
        this.options.onFatal(error);
        return;
      }
      this.retrying = batch;
      const delay = this.retryDelay;
      this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
      this.options.onRetry(error, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    } finally {
      this.writing = false;
      this.inFlight = undefined;
    }
    if (this.pendingCount > 0 || this.kicked) this.schedule();
    else this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
