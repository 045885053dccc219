/** How the tables and the chart write systems, rates, ratios, payload sizes, percentiles and CPU. */
import type { LatencySummary } from '../hist.js';
import { kilo, ms, round, type Spread } from '../util.js';

export const SYSTEM_LABEL: Record<string, string> = {
  redispatch: 'redispatch',
  raw: 'raw ioredis loop',
  bullmq: 'BullMQ',
  beequeue: 'Bee-Queue',
};

/** A median rate, with its min–max when there were several runs. */
export const rateRange = (s: Spread, f: (v: number) => string = kilo) =>
  s.runs.length > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);

/** A ratio such as `1.23x`, with its min–max when there were several rounds. */
export const ratioText = (s: Spread) =>
  Number.isFinite(s.median)
    ? s.runs.length > 1
      ? `${round(s.median, 2)}x (${round(s.min, 2)}–${round(s.max, 2)})`
      : `${round(s.median, 2)}x`
    : 'n/a';

/** 100 -> `100 B`, 4096 -> `4 KiB`. */
export const payloadSize = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

/** Latency percentiles p50 / p90 / p99 / p99.9 in ms. */
export const percentiles = (l: LatencySummary | null) =>
  l ? `${ms(l.p50)} / ${ms(l.p90)} / ${ms(l.p99)} / ${ms(l.p999)}` : 'n/a';

/** CPU figures of the given roles, in order, `–` where a role has none. */
export const cpuText = (cpu: Record<string, number>, roles = ['redis', 'leader', 'workers', 'publisher']) =>
  roles
    .map((role) => (cpu[role] === undefined || Number.isNaN(cpu[role]) ? '–' : String(cpu[role])))
    .join(' / ');
