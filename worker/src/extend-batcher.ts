import type { Delivery } from './transport.js';

/** One extension asked for: the claim, how far, and who waits for the answer. */
export interface ExtendWork {
  delivery: Delivery;
  ms: number;
  resolve(extended: boolean): void;
  reject(error: unknown): void;
}

/**
 * Gathers the extensions asked for in one event-loop turn (msg.extend calls, the auto-extension
 * sweep) and sends them in one write: one script call in lists mode, one per partition in streams
 * mode. A write that throws rejects each of its extensions (nothing is known to be extended).
 */
export class ExtendBatcher {
  private pending: ExtendWork[] = [];
  private scheduled = false;

  constructor(private readonly write: (batch: readonly ExtendWork[]) => Promise<boolean[]>) {}

  extend(delivery: Delivery, ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ delivery, ms, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      const extended = await this.write(batch);
      batch.forEach((work, i) => {
        work.resolve(extended[i] === true);
      });
    } catch (error) {
      for (const work of batch) work.reject(error);
    }
  }
}
