/** The samples of one Prometheus text exposition the console needs: sums by name, histogram buckets. */
export interface MetricsText {
  /** Every sample of this name added up (all label sets). */
  sum(name: string): number;
  /** Cumulative counts by upper bound `le` (all other label sets added up); +Inf included. */
  buckets(name: string): Map<number, number>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LE = /(?:^|,)le="([^"]*)"/;

/** Parses the text format (`name{labels} value`), skipping comments and anything it cannot read. */
export function parseMetricsText(text: string): MetricsText {
  const sums = new Map<string, number>();
  const buckets = new Map<string, Map<number, number>>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const [, name = '', labels = '', raw = ''] = match;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    sums.set(name, (sums.get(name) ?? 0) + value);
    const le = LE.exec(labels)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    if (Number.isNaN(bound)) continue;
    const byLe = buckets.get(name) ?? new Map<number, number>();
    byLe.set(bound, (byLe.get(bound) ?? 0) + value);
    buckets.set(name, byLe);
  }
  return {
    sum: (name) => sums.get(name) ?? 0,
    buckets: (name) => buckets.get(name) ?? new Map(),
  };
}

/**
 * The q-quantile of cumulative bucket counts, interpolated linearly inside the bucket it falls in
 * (as PromQL's histogram_quantile). In the +Inf bucket: the largest finite bound.
 */
export function histogramQuantile(q: number, cumulative: Map<number, number>): number {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Number.POSITIVE_INFINITY) ?? 0;
  if (total === 0 || bounds.length === 0) return Number.NaN;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bound of bounds) {
    const count = cumulative.get(bound) ?? 0;
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket > 0 ? lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket) : bound;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}
