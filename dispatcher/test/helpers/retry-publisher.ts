import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { loadPayload } from '../../src/cli/command-publish.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Fault-test publishing that survives the fault (every message heard by some dispatcher at least
// once), and libfaketime for the clock-skew scenario.

export interface RetryPublishOptions {
  url: string;
  channel: string;
  runId: string;
  count: number;
  /** Messages per second. */
  rate: number;
  /** A PUBLISH that reached fewer subscribers than this is sent again (default 1: some dispatcher heard it). */
  minReceivers?: number;
  size?: number;
  timeoutMs?: number;
}

export interface RetryPublishResult {
  /** PUBLISH calls that failed (error, or too few receivers) and were sent again. */
  retries: number;
  seconds: number;
}

/**
 * A publisher that never gives up on a message: every PUBLISH that errs (Redis down) or reaches fewer
 * than `minReceivers` subscribers (no dispatcher listening yet) is sent again until it is heard. So
 * every numbered message was, at least once, delivered to a subscribed dispatcher.
 */
export async function publishWithRetry(options: RetryPublishOptions): Promise<RetryPublishResult> {
  const minReceivers = options.minReceivers ?? 1;
  const size = options.size ?? 64;
  const client = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1_000,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => 50,
    connectionName: 'fault-publisher',
  });
  client.on('error', () => {});
  await client.connect().catch(() => {});
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? 60_000);
  let next = 0;
  let retries = 0;
  const again: number[] = [];
  try {
    while (next < options.count || again.length > 0) {
      if (performance.now() > deadline) {
        throw new Error(`publisher: ${options.count - next + again.length} messages unsent at the deadline`);
      }
      const target = Math.min(
        options.count,
        Math.floor(((performance.now() - started) / 1000) * options.rate) + 1,
      );
      const batch = again.splice(0, 200);
      while (next < target && batch.length < 400) batch.push(next++);
      if (batch.length === 0) {
        await sleep(5);
        continue;
      }
      if (client.status !== 'ready') {
        again.unshift(...batch);
        await sleep(20);
        continue;
      }
      const pipeline = client.pipeline();
      for (const seq of batch) pipeline.publish(options.channel, loadPayload(options.runId, seq, size));
      const replies = await pipeline.exec().catch(() => null);
      let failed = 0;
      batch.forEach((seq, i) => {
        const [error, receivers] = replies?.[i] ?? [new Error('no reply'), 0];
        if (error || Number(receivers) < minReceivers) {
          again.push(seq);
          failed += 1;
        }
      });
      retries += failed;
      await sleep(failed > 0 ? 20 : 5);
    }
  } finally {
    client.disconnect();
  }
  return { retries, seconds: (performance.now() - started) / 1000 };
}

/**
 * libfaketime's preload library, if installed (Debian: `apt-get install faketime`). Throws when it must
 * be there — the `faketime` command is installed, or REDISPATCH_REQUIRE_FAKETIME=1 (.ci/run sets it) —
 * but is not found, so the clock-skew scenario never silently runs without skew.
 */
export function faketimeLibrary(): string | undefined {
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  const found = [
    `/usr/lib/${arch}-linux-gnu/faketime/libfaketime.so.1`,
    '/usr/lib/faketime/libfaketime.so.1',
    '/usr/local/lib/faketime/libfaketime.so.1',
  ].find((path) => existsSync(path));
  const command = (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, 'faketime')));
  if (!found && (command || process.env.REDISPATCH_REQUIRE_FAKETIME === '1'))
    throw new Error(
      `libfaketime.so.1 not found although ${command ? 'the faketime command is installed' : 'REDISPATCH_REQUIRE_FAKETIME=1'}: the clock-skew scenario would run without skew`,
    );
  return found;
}
