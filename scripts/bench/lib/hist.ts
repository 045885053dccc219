/** HDR histograms of latencies in microseconds (1 µs .. 10 min, 3 significant digits). */
import hdr from 'hdr-histogram-js';

export type Histogram = ReturnType<typeof hdr.build>;

export function newHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Records a latency in µs; values below 1 µs (clock granularity) count as 1. */
export function record(histogram: Histogram, micros: number): void {
  histogram.recordValue(micros >= 1 ? Math.round(micros) : 1);
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function mergeHistograms(encoded: readonly (string | undefined)[]): Histogram {
  const merged = newHistogram();
  for (const text of encoded) {
    if (text) merged.add(hdr.decodeFromCompressedBase64(text, 32, false));
  }
  return merged;
}

export interface LatencySummary {
  count: number;
  /** Microseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function summarize(histogram: Histogram): LatencySummary | null {
  if (histogram.totalCount === 0) return null;
  return {
    count: histogram.totalCount,
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    max: histogram.maxValue,
    mean: Math.round(histogram.mean),
  };
}
