import type { Message } from '@redispatch/worker';

/**
 * The handler `redispatch up` runs: simulates a little work, fails about 1% of first attempts so
 * retries and backoff are visible in `stats`, and never fails a retry.
 */
export default async function demoHandler(message: Message): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 4));
  if (message.attempt === 1 && Math.random() < 0.01) throw new Error('demo: simulated transient failure');
}
