/**
 * Small helpers shared by the orchestrator and its children: the cross-process clock, sleeping,
 * statistics and number formatting.
 */

/**
 * Microseconds on CLOCK_MONOTONIC (process.hrtime). On Linux every process on the host reads the
 * same clock, so a stamp taken in the publisher can be compared with one taken in a worker.
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    median: median(finite),
    min: finite.length ? Math.min(...finite) : Number.NaN,
    max: finite.length ? Math.max(...finite) : Number.NaN,
    runs: [...values],
  };
}

export function round(value: number, digits = 0): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** 12345 -> "12.3k", 950 -> "950". */
export function kilo(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 1000) return `${round(value / 1000, 1)}k`;
  return String(round(value));
}

export function ms(micros: number | undefined): string {
  if (micros === undefined || !Number.isFinite(micros)) return 'n/a';
  const m = micros / 1000;
  return m >= 100 ? String(round(m)) : m >= 10 ? String(round(m, 1)) : String(round(m, 2));
}

export function bytes(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 1024 * 1024) return `${round(value / 1024 / 1024, 1)} MiB`;
  if (value >= 1024) return `${round(value / 1024, 1)} KiB`;
  return `${round(value)} B`;
}

/** A short random run id without ':' (payloads are `<runId>:<seq>:…`). */
export function runId(tag: string): string {
  return `${tag}${Math.random().toString(36).slice(2, 7)}`;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
