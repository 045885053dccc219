import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { boundObserver } from '../src/bound-observer.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
/** Inside, on and between bucket bounds, above the last one, and zero. */
const VALUES = [0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 1, 3, 0, 0.01, 12];

function pair(name: string) {
  const registry = new Registry();
  const labelNames = ['outcome'] as const;
  const plain = new Histogram({
    name: `${name}_plain`,
    help: 'h',
    labelNames,
    buckets: BUCKETS,
    registers: [registry],
  });
  const bound = new Histogram({
    name: `${name}_bound`,
    help: 'h',
    labelNames,
    buckets: BUCKETS,
    registers: [registry],
  });
  return { plain, bound };
}

async function series(histogram: Histogram<string>) {
  return (await histogram.get()).values.map(({ labels, value, metricName }) => ({
    labels,
    value,
    metric: metricName?.replace(/_(plain|bound)/, ''),
  }));
}

describe('boundObserver', () => {
  it('counts exactly what observe counts (buckets, sum, count), beside other label sets', async () => {
    const { plain, bound } = pair('same');
    const ack = boundObserver(bound, { outcome: 'ack' });
    for (const value of VALUES) {
      plain.observe({ outcome: 'ack' }, value);
      ack(value);
    }
    plain.observe({ outcome: 'nack' }, 0.3);
    bound.observe({ outcome: 'nack' }, 0.3);
    expect(await series(bound)).toEqual(await series(plain));
  });

  it('keeps counting after a reset (the series is found again)', async () => {
    const { plain, bound } = pair('reset');
    const ack = boundObserver(bound, { outcome: 'ack' });
    ack(0.5);
    ack(0.5);
    bound.reset();
    for (const value of VALUES) {
      plain.observe({ outcome: 'ack' }, value);
      ack(value);
    }
    expect(await series(bound)).toEqual(await series(plain));
  });

  it('rejects what observe rejects', () => {
    const { bound } = pair('reject');
    const ack = boundObserver(bound, { outcome: 'ack' });
    ack(0.1);
    expect(() => ack(Number.NaN)).toThrow(TypeError);
  });
});
