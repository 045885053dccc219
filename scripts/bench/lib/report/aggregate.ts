/** Aggregation over rounds: one throughput row per system, workers and payload, and the per-round ratios. */
import { median, round, type Spread, spread } from '../util.js';
import type { Report, ThroughputResult } from './results.js';

export interface ThroughputRow {
  system: string;
  workers: number;
  size: number;
  rate: Spread;
  redisCpuUsPerMsg: number;
  cpu: Record<string, number>;
  cpuPerMsg: Record<string, number>;
  lost: number;
  duplicates: number;
}

export function throughputRows(report: Report): ThroughputRow[] {
  const groups = new Map<string, ThroughputResult[]>();
  for (const t of report.throughput) {
    const key = `${t.system}|${t.workers}|${t.size}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const order = ['redispatch', 'raw', 'bullmq', 'beequeue'];
  return [...groups.values()]
    .map((runs) => {
      const first = runs[0] as ThroughputResult;
      const roles = new Set(runs.flatMap((r) => Object.keys(r.cpuPercent)));
      const cpu: Record<string, number> = {};
      const cpuPerMsg: Record<string, number> = {};
      for (const role of roles) {
        cpu[role] = round(median(runs.map((r) => r.cpuPercent[role] ?? Number.NaN)));
        cpuPerMsg[role] = round(median(runs.map((r) => r.cpuUsPerMsg?.[role] ?? Number.NaN)), 1);
      }
      cpuPerMsg.total = round(
        median(
          runs.map((r) =>
            Object.entries(r.cpuUsPerMsg ?? {})
              .filter(([role]) => role !== 'publisher')
              .reduce((sum, [, v]) => sum + v, 0),
          ),
        ),
        1,
      );
      return {
        system: first.system,
        workers: first.workers,
        size: first.size,
        rate: spread(runs.map((r) => r.msgPerSec)),
        redisCpuUsPerMsg: round(median(runs.map((r) => r.redisCpuUsPerMsg)), 1),
        cpu,
        cpuPerMsg,
        lost: runs.reduce((s, r) => s + r.delivery.lost, 0),
        duplicates: runs.reduce((s, r) => s + r.delivery.duplicates, 0),
      };
    })
    .sort(
      (a, b) => a.size - b.size || a.workers - b.workers || order.indexOf(a.system) - order.indexOf(b.system),
    );
}

export interface RatioRow {
  workers: number;
  size: number;
  ours: number;
  raw: number;
  bullmq: number;
  beequeue: number;
  /** Median over rounds of the per-round ratio (same round = same conditions). */
  vsRaw: Spread;
  vsBullmq: Spread;
  vsBeequeue: Spread;
}

export function ratioRows(report: Report): RatioRow[] {
  const rows: RatioRow[] = [];
  const keys = new Set(report.throughput.map((t) => `${t.workers}|${t.size}`));
  for (const key of keys) {
    const [workers, size] = key.split('|').map(Number) as [number, number];
    const pick = (system: string) =>
      report.throughput.filter((t) => t.system === system && t.workers === workers && t.size === size);
    const ours = pick('redispatch');
    const raw = pick('raw');
    const bull = pick('bullmq');
    const bee = pick('beequeue');
    if (ours.length === 0 || (raw.length === 0 && bull.length === 0 && bee.length === 0)) continue;
    const perRound = (peer: ThroughputResult[]) =>
      ours
        .map((o) => {
          const p = peer.find((x) => x.round === o.round);
          return p ? o.msgPerSec / p.msgPerSec : Number.NaN;
        })
        .filter((r) => Number.isFinite(r));
    rows.push({
      workers,
      size,
      ours: median(ours.map((t) => t.msgPerSec)),
      raw: median(raw.map((t) => t.msgPerSec)),
      bullmq: median(bull.map((t) => t.msgPerSec)),
      vsRaw: spread(perRound(raw)),
      vsBullmq: spread(perRound(bull)),
      beequeue: median(bee.map((t) => t.msgPerSec)),
      vsBeequeue: spread(perRound(bee)),
    });
  }
  return rows.sort((a, b) => a.size - b.size || a.workers - b.workers);
}
