import { decodeOutboundEntry, type Logger, type OutboundEntry } from '@redispatch/shared';
import type { Finisher } from './finisher.js';
import type { RelayMetrics } from './relay-metrics.js';

export interface HttpDelivererOptions {
  finisher: Finisher;
  metrics: RelayMetrics;
  log: Logger;
  maxAttempts: number;
  backoffBaseMs: number;
  timeoutMs: number;
  retentionMs: number;
  /** URL prefixes replies may be POSTed to; empty allows any (REDISPATCH_HTTP_ALLOW). */
  allow: readonly string[];
}

/** A status worth retrying: the endpoint may answer differently later. Other 4xx are final. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The deliverer role: POSTs each reply addressed to an http(s):// URL — body = the reply bytes,
 * headers `x-redispatch-message-id` and `x-redispatch-attempt` — retrying network errors, timeouts,
 * 5xx, 408 and 429 with exponential backoff and jitter, up to `maxAttempts`; then, or at once for any
 * other non-2xx answer, dead-letters it with the last status or error.
 */
export class HttpDeliverer {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(private readonly o: HttpDelivererOptions) {}

  get active(): number {
    return this.inFlight.size;
  }

  /** Resolves to the number of free slots out of `limit` once there is at least one (or it is stopping). */
  async room(limit: number): Promise<number> {
    while (this.inFlight.size >= limit && !this.stopping.signal.aborted) await Promise.race(this.inFlight);
    return Math.max(1, limit - this.inFlight.size);
  }

  /** Delivers one taken entry (attempts, backoff, then finish); callers bound how many run at once. */
  deliver(raw: Buffer, nowMs: number): Promise<void> {
    const task = this.run(raw, nowMs).finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
    return task;
  }

  /** Aborts the attempts and backoffs in progress; their entries stay in the processing list. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('deliverer stopping'));
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(raw: Buffer, nowMs: number): Promise<void> {
    let entry: OutboundEntry;
    try {
      entry = decodeOutboundEntry(raw);
    } catch {
      this.o.metrics.undeliverable.inc({ reason: 'malformed' });
      this.o.finisher.deadLetter(raw, 'malformed');
      return;
    }
    if (nowMs - entry.enqueuedAt > this.o.retentionMs) {
      this.o.metrics.undeliverable.inc({ reason: 'expired' });
      this.o.finisher.deadLetter(raw, 'expired');
      return;
    }
    if (this.o.allow.length > 0 && !this.o.allow.some((prefix) => entry.replyTo.startsWith(prefix))) {
      // Publishers choose reply addresses: without this check any of them could make us POST anywhere.
      this.o.metrics.http.inc({ outcome: 'dead_lettered' });
      this.o.finisher.deadLetter(raw, 'http: not allowed by REDISPATCH_HTTP_ALLOW');
      return;
    }
    let last = '';
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      if (this.stopping.signal.aborted) return;
      const outcome = await this.post(entry, attempt);
      if (outcome === 'delivered') {
        this.o.metrics.http.inc({ outcome: 'delivered' });
        this.o.metrics.deliveryLatency.observe(
          { target: 'http' },
          Math.max(0, Date.now() - entry.enqueuedAt) / 1000,
        );
        this.o.finisher.delivered(raw);
        return;
      }
      if (this.stopping.signal.aborted) return;
      last = outcome.reason;
      if (!outcome.retry) break;
      if (attempt < this.o.maxAttempts) {
        this.o.metrics.http.inc({ outcome: 'retried' });
        await this.sleep(this.backoff(attempt));
      }
    }
    if (this.stopping.signal.aborted) return;
    this.o.metrics.http.inc({ outcome: 'dead_lettered' });
    this.o.log.warn({ id: entry.messageId, reason: last }, 'HTTP reply dead-lettered');
    this.o.finisher.deadLetter(raw, `http: ${last}`.slice(0, 200));
  }

  private async post(
    entry: OutboundEntry,
    attempt: number,
  ): Promise<'delivered' | { retry: boolean; reason: string }> {
    try {
      const response = await fetch(entry.replyTo, {
        method: 'POST',
        body: entry.payload,
        headers: {
          'content-type': entry.text ? 'text/plain; charset=utf-8' : 'application/octet-stream',
          'x-redispatch-message-id': entry.messageId,
          'x-redispatch-attempt': String(attempt),
        },
        redirect: 'manual',
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.o.timeoutMs)]),
      });
      // Drain the body so the connection is reused.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return 'delivered';
      return { retry: retryable(response.status), reason: `status ${response.status}` };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { retry: true, reason: cause ? `${text} (${cause})` : text };
    }
  }

  /** Exponential, with full jitter in the upper half so a burst of retries spreads out. */
  private backoff(attempt: number): number {
    const ceiling = this.o.backoffBaseMs * 2 ** (attempt - 1);
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
