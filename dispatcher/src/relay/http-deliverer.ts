import {
  decodeOutboundEntry,
  type HttpAllowEntry,
  type Logger,
  type OutboundEntry,
} from '@redispatch/shared';
import type { Finisher } from './finisher.js';
import { resolveDestination } from './pinned-destination.js';
import { createPostAgents, pinnedPost } from './pinned-post.js';
import type { RelayMetrics } from './relay-metrics.js';
import { UrlPolicy } from './url-policy.js';

export interface HttpDelivererOptions {
  finisher: Finisher;
  metrics: RelayMetrics;
  log: Logger;
  maxAttempts: number;
  backoffBaseMs: number;
  timeoutMs: number;
  retentionMs: number;
  /** Where replies may be POSTed (REDISPATCH_HTTP_ALLOW); empty allows nothing. */
  allow: readonly HttpAllowEntry[];
  /** POSTs at once (sockets kept per origin). */
  concurrency: number;
}

/**
 * Dead-letter reasons. Whoever reads out-dlq may be the publisher who chose the URL, so they say no
 * more than this (no error codes, addresses or ports: no port-scan oracle); the relay's log has detail.
 * "not allowed" keeps the wording it shipped with.
 */
const NOT_ALLOWED = 'not allowed by REDISPATCH_HTTP_ALLOW';
type Failure = { retry: boolean; reason: string; detail: string };

/** A status worth retrying: the endpoint may answer differently later. Other 4xx are final. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The deliverer role: POSTs each reply addressed to an http(s):// URL — body = the reply bytes,
 * headers `x-redispatch-message-id` and `x-redispatch-attempt` — retrying network errors, timeouts,
 * 5xx, 408 and 429 with exponential backoff and jitter, up to `maxAttempts`; then, or at once for any
 * other non-2xx answer, dead-letters it with the last status or a coarse reason (`unreachable`,
 * `timeout`). Only URLs REDISPATCH_HTTP_ALLOW admits are contacted, and only at addresses checked
 * after resolving their host (see url-policy.ts, pinned-destination.ts).
 */
export class HttpDeliverer {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly policy: UrlPolicy;
  private readonly agents;

  constructor(private readonly o: HttpDelivererOptions) {
    this.policy = new UrlPolicy(o.allow);
    this.agents = createPostAgents(o.concurrency);
  }

  /** True when no URL is allowed (REDISPATCH_HTTP_ALLOW unset): every HTTP reply is dead-lettered. */
  get allowsNothing(): boolean {
    return this.policy.empty;
  }

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
    this.agents.http.destroy();
    this.agents.https.destroy();
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
    const decision = this.policy.check(entry.replyTo);
    if (decision.kind === 'refused') {
      // Publishers choose reply addresses: without this check any of them could make us POST anywhere.
      this.o.log.warn(
        { id: entry.messageId, why: decision.why },
        'HTTP reply refused by REDISPATCH_HTTP_ALLOW; dead-lettered',
      );
      this.o.metrics.http.inc({ outcome: 'dead_lettered' });
      this.o.finisher.deadLetter(raw, `http: ${NOT_ALLOWED}`);
      return;
    }
    let last: Failure | undefined;
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      if (this.stopping.signal.aborted) return;
      const outcome = await this.post(entry, decision.url, decision.entry, attempt);
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
      last = outcome;
      this.o.log.debug({ id: entry.messageId, attempt, detail: outcome.detail }, 'HTTP reply attempt failed');
      if (!outcome.retry) break;
      if (attempt < this.o.maxAttempts) {
        this.o.metrics.http.inc({ outcome: 'retried' });
        await this.sleep(this.backoff(attempt));
      }
    }
    if (this.stopping.signal.aborted) return;
    this.o.metrics.http.inc({ outcome: 'dead_lettered' });
    this.o.log.warn(
      { id: entry.messageId, reason: last?.reason, detail: last?.detail },
      'HTTP reply dead-lettered',
    );
    this.o.finisher.deadLetter(raw, `http: ${last?.reason ?? 'unreachable'}`);
  }

  /** One attempt: resolve and check the destination, then POST to exactly the checked addresses. */
  private async post(
    entry: OutboundEntry,
    url: URL,
    allowedBy: HttpAllowEntry,
    attempt: number,
  ): Promise<'delivered' | Failure> {
    const timeout = AbortSignal.timeout(this.o.timeoutMs);
    const signal = AbortSignal.any([this.stopping.signal, timeout]);
    try {
      const destination = await abortable(resolveDestination(url, allowedBy), signal);
      if (destination.kind === 'refused')
        return { retry: false, reason: NOT_ALLOWED, detail: destination.why };
      const status = await pinnedPost({
        url,
        addresses: destination.addresses,
        body: entry.payload,
        headers: {
          'content-type': entry.text ? 'text/plain; charset=utf-8' : 'application/octet-stream',
          'x-redispatch-message-id': entry.messageId,
          'x-redispatch-attempt': String(attempt),
        },
        signal,
        agents: this.agents,
      });
      if (status >= 200 && status < 300) return 'delivered';
      return { retry: retryable(status), reason: `status ${status}`, detail: `status ${status}` };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const detail = code && !text.includes(code) ? `${text} (${code})` : text;
      return { retry: true, reason: timeout.aborted ? 'timeout' : 'unreachable', detail };
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

/** Rejects as soon as `signal` aborts (dns.lookup cannot be cancelled; its late answer is ignored). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
