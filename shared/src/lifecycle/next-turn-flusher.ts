/**
 * Where a coalescing writer is: `idle` (nothing scheduled), `scheduled` (a flush runs on the next
 * turn of the event loop), `flushing` (one write in flight; what arrives meanwhile waits for the next).
 */
export type FlusherState = 'idle' | 'scheduled' | 'flushing';

/**
 * "One write in flight, flush on the next turn": the batching that makes the leader's writes and the
 * workers' settles one round trip per event-loop turn without a timer (so an idle system adds no
 * latency, a busy one coalesces). The owner keeps the pending work and says how to write it;
 * `flushOnce` takes what is pending and writes it; it runs again while `hasWork` says so.
 */
export class NextTurnFlusher {
  state: FlusherState = 'idle';
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly flushOnce: () => Promise<void>,
    private readonly hasWork: () => boolean,
  ) {}

  /** Asks for a flush: on the next turn, or after the one in flight. */
  request(): void {
    if (this.state !== 'idle') return;
    this.state = 'scheduled';
    setImmediate(() => void this.run());
  }

  /** Resolves once nothing is pending and nothing is in flight (or after `timeoutMs`). */
  async idle(timeoutMs: number): Promise<void> {
    if (this.state === 'idle' && !this.hasWork()) return;
    this.request();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    this.state = 'flushing';
    try {
      if (this.hasWork()) await this.flushOnce();
    } finally {
      this.state = 'idle';
      if (this.hasWork()) this.request();
      else for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
