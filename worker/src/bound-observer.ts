import type { Histogram } from 'prom-client';

/** One label set's series inside a prom-client 15 histogram (`hashMap[hash]`). */
interface Series {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** The parts of a prom-client 15 Histogram this reads; anything else found there means: fall back. */
interface HistogramInternals {
  hashMap?: Record<string, Series>;
  upperBounds?: readonly number[];
}

/** Observes `value` for one fixed label set. */
export type Observe = (value: number) => void;

/**
 * A histogram observer bound to one label set that skips prom-client's per-call work (a label object
 * validated and hashed per observe was 7–10% of a worker's CPU): it finds its series once through a
 * normal `observe` and from then on counts into it, exactly as `observe` would (sum, count, the
 * first bucket the value fits). Whenever the series is not where it was (after `reset`, or another
 * prom-client layout), and for values `observe` would reject, it goes through `observe` again.
 */
export function boundObserver<T extends string>(
  histogram: Histogram<T>,
  labels: Partial<Record<T, string>>,
): Observe {
  const internals = histogram as unknown as HistogramInternals;
  let key: string | undefined;
  let series: Series | undefined;
  return (value: number) => {
    const upperBounds = internals.upperBounds;
    if (
      key === undefined ||
      series === undefined ||
      internals.hashMap?.[key] !== series ||
      upperBounds === undefined ||
      !Number.isFinite(value)
    ) {
      histogram.observe(labels, value);
      [key, series] = findSeries(internals, labels) ?? [undefined, undefined];
      return;
    }
    series.sum += value;
    series.count += 1;
    for (const bound of upperBounds) {
      if (value <= bound) {
        if (series.bucketValues[bound] !== undefined) series.bucketValues[bound] += 1;
        return;
      }
    }
  };
}

function findSeries(
  internals: HistogramInternals,
  labels: Record<string, string | undefined>,
): [string, Series] | undefined {
  const map = internals.hashMap;
  if (map === undefined || typeof map !== 'object') return undefined;
  const names = Object.keys(labels);
  for (const [key, series] of Object.entries(map)) {
    if (typeof series?.sum !== 'number' || typeof series.bucketValues !== 'object') continue;
    const own = Object.keys(series.labels ?? {});
    if (own.length === names.length && names.every((name) => String(series.labels[name]) === labels[name]))
      return [key, series];
  }
  return undefined;
}
