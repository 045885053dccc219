import type { Config, Stats } from '@redispatch/shared';
import type { AdminScope } from '../cli/admin-connection.js';
import { statsFor } from '../cli/command-stats.js';
import { type LatencyQuantiles, type WorkerScrape, WorkerScraper } from './worker-scrape.js';

/** One live update of the page: the stats document (with rates) and the leader's lease. */
export interface Snapshot {
  stats: Stats;
  /** Milliseconds the current lease holds without a renewal (PTTL of the lock key); null when the lock lives elsewhere. */
  leaseLeftMs: number | null;
  /** Per worker id, from its /metrics (the last finished scrape; /api/events only). */
  workerMetrics: Record<string, WorkerScrape>;
  /** p50/p99 over the last interval across the scraped workers; null without observations. */
  latency: LatencyQuantiles | null;
}

interface Sample {
  atMs: number;
  accepted: number;
  acked: number;
}

/** Reads snapshots; each carries the rates since the one before (as `stats --watch` does). */
export class SnapshotReader {
  private previous: Sample | undefined;
  private readonly scraper = new WorkerScraper();

  constructor(
    private readonly config: Config,
    private readonly scope: AdminScope,
  ) {}

  /** `GET /api/stats`: exactly `stats --json`. */
  stats(): Promise<Stats> {
    return statsFor(this.config, this.scope);
  }

  async read(): Promise<Snapshot> {
    const [stats, pttl] = await Promise.all([
      this.stats(),
      this.scope.client.pttl(this.scope.keys.leaseLock),
    ]);
    const sample = { atMs: performance.now(), accepted: stats.totals.accepted, acked: stats.totals.acked };
    const previous = this.previous;
    this.previous = sample;
    const seconds = previous ? (sample.atMs - previous.atMs) / 1000 : 0;
    stats.rates =
      previous && seconds > 0
        ? {
            acceptedPerSec: Math.max(0, sample.accepted - previous.accepted) / seconds,
            ackedPerSec: Math.max(0, sample.acked - previous.acked) / seconds,
            intervalSec: seconds,
          }
        : null;
    stats.sampledAt = new Date().toISOString();
    // The scrape runs beside the snapshot: this one carries the last finished round.
    const scraped = this.scraper.latest();
    this.scraper.refresh(stats.workers);
    return {
      stats,
      leaseLeftMs: pttl >= 0 && stats.leader ? pttl : null,
      workerMetrics: scraped.workers,
      latency: scraped.latency,
    };
  }
}
