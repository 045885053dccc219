import { ConfigError, createLogger, loadConfig, Publisher } from '@redispatch/shared';
import { Worker } from '@redispatch/worker';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../src/dispatcher.js';

// The library classes validate their options with the CLI's schemas (shared/src/config/options.ts),
// and say which option is wrong and which REDISPATCH_* variable it corresponds to.
const handler = async () => {};

function problemsOf(make: () => unknown): readonly string[] {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('library options', () => {
  it('new Worker({ concurrency: 0 }) throws, naming the option and REDISPATCH_CONCURRENCY, as the CLI refuses 0', () => {
    expect(
      problemsOf(() => new Worker({ redisUrl: 'redis://127.0.0.1:1', handler, concurrency: 0 })),
    ).toEqual([
      'Worker option concurrency (REDISPATCH_CONCURRENCY) Too small: expected number to be >=1 (got "0")',
    ]);
  });

  it('lists every bad Worker option at once, with the type and the isolate settings checked too', () => {
    const problems = problemsOf(
      () =>
        new Worker({
          redisUrl: 'http://example.com',
          id: 'has space',
          prefetch: -1,
          mode: 'queues' as 'lists',
          maxAttempts: '3' as unknown as number,
          isolate: { module: 'x.mjs', maxMemoryMb: 4 },
        }),
    );
    expect(problems).toEqual([
      'Worker option redisUrl (REDISPATCH_REDIS_URL) has scheme "http" (expected redis or rediss)',
      'Worker option id (REDISPATCH_INSTANCE_ID) may contain only letters, digits and . _ : - (got "has space")',
      expect.stringMatching(/^Worker option prefetch \(REDISPATCH_PREFETCH\) .*>=0 \(got "-1"\)$/),
      expect.stringMatching(/^Worker option mode \(REDISPATCH_MODE\) .*"lists".*\(got "queues"\)$/),
      'Worker option maxAttempts (REDISPATCH_MAX_ATTEMPTS) must be a number (got a string)',
      expect.stringMatching(
        /^Worker option isolate\.maxMemoryMb \(REDISPATCH_ISOLATE_MAX_MEMORY_MB\) .*>=16/,
      ),
    ]);
  });

  it('accepts the options the CLI would accept', () => {
    const worker = new Worker({ redisUrl: 'redis://127.0.0.1:1/3', handler, concurrency: 1, prefetch: 0 });
    expect(worker.state).toBe('idle');
  });

  it('Publisher and Dispatcher check theirs the same way', () => {
    expect(problemsOf(() => new Publisher({ redis: undefined as never, channel: 'has space' }))).toEqual([
      'Publisher option channel (REDISPATCH_CHANNEL) may contain only letters, digits and . _ : - (got "has space")',
    ]);
    const config = { ...loadConfig({}), leaseMs: 50, batchSize: 0 };
    expect(
      problemsOf(() => new Dispatcher({ config, logger: createLogger('silent'), registry: new Registry() })),
    ).toEqual([
      expect.stringMatching(
        /^Dispatcher config option leaseMs \(REDISPATCH_LEASE_MS\) .*>=300 \(got "50"\)$/,
      ),
      expect.stringMatching(
        /^Dispatcher config option batchSize \(REDISPATCH_BATCH_SIZE\) .*>=1 \(got "0"\)$/,
      ),
    ]);
  });
});
