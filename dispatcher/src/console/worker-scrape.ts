import { histogramQuantile, parseMetricsText } from './prometheus-text.js';

/** Workers scraped per round: a page is a picture, not a monitoring system (Prometheus is that). */
export const MAX_SCRAPED_WORKERS = 32;
/** One /metrics answer may take this long; a slower worker is shown unreachable for that round. */
export const SCRAPE_TIMEOUT_MS = 800;
/** Bytes read from one /metrics answer (a worker's is a few KiB). */
export const MAX_SCRAPE_BYTES = 256 * 1024;

const ACKED = 'redispatch_messages_acked_total';
const NACKED = 'redispatch_messages_nacked_total';
const END_TO_END = 'redispatch_end_to_end_latency_seconds_bucket';
const HANDLER = 'redispatch_handler_duration_seconds_bucket';

/** p50/p99 in seconds over the last interval, from one histogram's bucket deltas. */
export interface LatencyQuantiles {
  source: 'end-to-end' | 'handler';
  p50: number;
  p99: number;
  count: number;
}

/** What the console learned from one worker's /metrics in the last round. */
export type WorkerScrape =
  | { state: 'ok'; handledPerSec: number | null; latency: LatencyQuantiles | null }
  | { state: 'unreachable'; error: string }
  | { state: 'no-metrics' };

export interface ScrapeRound {
  workers: Record<string, WorkerScrape>;
  /** Every scraped worker's buckets together: the chart's latency line. */
  latency: LatencyQuantiles | null;
}

interface Sample {
  atMs: number;
  handled: number;
  endToEnd: Map<number, number>;
  handler: Map<number, number>;
}

/**
 * Scrapes each worker's /metrics (where the endpoint directory says it serves it) in the
 * background: `refresh` starts a round unless one is running, `latest` returns the last finished
 * round at once, so a slow or dead worker never holds up the once-a-second snapshot.
 */
export class WorkerScraper {
  private previous = new Map<string, Sample>();
  private last: ScrapeRound = { workers: {}, latency: null };
  private running = false;

  latest(): ScrapeRound {
    return this.last;
  }

  refresh(workers: readonly { id: string; metrics?: string | null }[]): void {
    if (this.running) return;
    this.running = true;
    void this.round(workers.slice(0, MAX_SCRAPED_WORKERS)).finally(() => {
      this.running = false;
    });
  }

  private async round(workers: readonly { id: string; metrics?: string | null }[]): Promise<void> {
    const results = await Promise.all(
      workers.map(async ({ id, metrics }) => [id, metrics ? await scrapeOne(metrics) : null] as const),
    );
    const next = new Map<string, Sample>();
    const scraped: Record<string, WorkerScrape> = {};
    const totals = { endToEnd: new Map<number, number>(), handler: new Map<number, number>() };
    for (const [id, sample] of results) {
      if (sample === null) {
        scraped[id] = { state: 'no-metrics' };
        continue;
      }
      if (sample instanceof Error) {
        scraped[id] = { state: 'unreachable', error: sample.message.slice(0, 200) };
        continue;
      }
      next.set(id, sample);
      const before = this.previous.get(id);
      // A restarted worker's counters start over: its first round after is a new baseline.
      const reset = before !== undefined && sample.handled < before.handled;
      if (!before || reset) {
        scraped[id] = { state: 'ok', handledPerSec: null, latency: null };
        continue;
      }
      const seconds = (sample.atMs - before.atMs) / 1000;
      const endToEnd = deltas(sample.endToEnd, before.endToEnd);
      const handler = deltas(sample.handler, before.handler);
      addInto(totals.endToEnd, endToEnd);
      addInto(totals.handler, handler);
      scraped[id] = {
        state: 'ok',
        handledPerSec: seconds > 0 ? (sample.handled - before.handled) / seconds : null,
        latency: latencyOf(endToEnd, handler),
      };
    }
    this.previous = next;
    this.last = { workers: scraped, latency: latencyOf(totals.endToEnd, totals.handler) };
  }
}

async function scrapeOne(hostPort: string): Promise<Sample | Error> {
  try {
    const res = await fetch(`http://${hostPort}/metrics`, {
      signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS),
    });
    if (!res.ok) return new Error(`/metrics answered ${res.status}`);
    const text = await readCapped(res);
    const series = parseMetricsText(text);
    return {
      atMs: performance.now(),
      handled: series.sum(ACKED) + series.sum(NACKED),
      endToEnd: series.buckets(END_TO_END),
      handler: series.buckets(HANDLER),
    };
  } catch (error) {
    const e = error as Error;
    return new Error(e.name === 'TimeoutError' ? `no answer in ${SCRAPE_TIMEOUT_MS} ms` : e.message);
  }
}

async function readCapped(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_SCRAPE_BYTES) {
      await reader.cancel();
      throw new Error(`/metrics is over ${MAX_SCRAPE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function deltas(now: Map<number, number>, before: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, count] of now) out.set(le, Math.max(0, count - (before.get(le) ?? 0)));
  return out;
}

function addInto(total: Map<number, number>, add: Map<number, number>): void {
  for (const [le, count] of add) total.set(le, (total.get(le) ?? 0) + count);
}

/** End-to-end latency when messages carried a publish time this interval, else handler time. */
function latencyOf(endToEnd: Map<number, number>, handler: Map<number, number>): LatencyQuantiles | null {
  for (const [source, buckets] of [
    ['end-to-end', endToEnd],
    ['handler', handler],
  ] as const) {
    const count = buckets.get(Number.POSITIVE_INFINITY) ?? 0;
    if (count > 0)
      return {
        source,
        p50: histogramQuantile(0.5, buckets),
        p99: histogramQuantile(0.99, buckets),
        count,
      };
  }
  return null;
}
