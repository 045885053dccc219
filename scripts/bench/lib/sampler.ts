/**
 * Polls a counter in a Redis hash (redispatch's `{rd}:totals` `acked`, the raw loop's
 * `raw:stats` `acked`). Each sample is stamped with the midpoint of its round trip.
 */
import type { Redis } from 'ioredis';
import { type Histogram, record } from './hist.js';
import { nowUs, sleep } from './util.js';

export class CounterSampler {
  readonly times: number[] = [];
  readonly values: number[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly field: string,
    private readonly intervalMs = 1,
  ) {}

  start(): this {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const sent = nowUs();
        const value = Number((await this.redis.hget(this.key, this.field)) ?? 0);
        this.times.push((sent + nowUs()) / 2);
        this.values.push(value);
        await sleep(this.intervalMs);
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /**
   * Publish→ack latency by matching counts ("cumulative curves"): the k-th message in schedule
   * order is taken as acked when the counter first reached base + k + 1, estimated as the
   * midpoint between the last sample below and the first sample at or above (±half a polling
   * interval). Exact for the mean (the area between the two curves); for percentiles it assumes
   * messages are acked in publish order, which holds up to the reordering among workers.
   */
  recordAckLatencies(
    histogram: Histogram,
    base: number,
    count: number,
    scheduledUs: (k: number) => number,
  ): number {
    let i = 0;
    let recorded = 0;
    for (let k = 0; k < count; k++) {
      while (i < this.values.length && (this.values[i] as number) - base < k + 1) i++;
      if (i >= this.values.length) break;
      const at =
        i > 0 ? ((this.times[i - 1] as number) + (this.times[i] as number)) / 2 : (this.times[i] as number);
      record(histogram, at - scheduledUs(k));
      recorded++;
    }
    return recorded;
  }
}

/**
 * Waits until `HGET key field` reaches `target`; returns the estimated µs it got there (midpoint
 * between the last poll below and the first at or above), or NaN on timeout.
 */
export async function waitForCounter(
  redis: Redis,
  key: string,
  field: string,
  target: number,
  timeoutMs: number,
  pollMs = 2,
): Promise<number> {
  const deadline = nowUs() + timeoutMs * 1000;
  let previous = nowUs();
  while (nowUs() < deadline) {
    const sent = nowUs();
    const value = Number((await redis.hget(key, field)) ?? 0);
    const at = (sent + nowUs()) / 2;
    if (value >= target) return (previous + at) / 2;
    previous = at;
    await sleep(pollMs);
  }
  return Number.NaN;
}
