// Per-key rate limit in lists mode (REDISPATCH_KEY_RATE_LIMIT; docs/flow-control.md, Per-key limits)
// with real processes: each key paced by its own bucket in Redis, other keys not slowed by it, and
// with a concurrency limit on too. The accuracy is printed (the docs quote it with this command).
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, killEverything } from '../helpers/fault-cluster.js';
import { KEY_RECORDER, publishKeyed, readKeyLog, summarise } from '../helpers/key-log.js';

let server: RedisHandle;
beforeAll(async () => {
  server = await startRedis();
}, 60_000);
afterAll(async () => {
  await killEverything();
  await server?.stop();
});

const RATE = 10;
const PER_KEY = 60;
const BURST = 10;

/** Per key: messages per second after the burst, from the first starts' times in the handler log. */
function steadyRates(fleet: FaultCluster, keys: readonly string[]): number[] {
  const events = readKeyLog(fleet.dir);
  return keys.map((key) => {
    const firsts = new Map<number, number>();
    for (const e of events)
      if (e.key === key && e.kind === 'start' && !firsts.has(e.seq)) firsts.set(e.seq, e.ms);
    const times = [...firsts.values()].sort((a, b) => a - b);
    // Intervals between the starts paced by tokens (the burst's own starts spread with the handlers').
    const from = times[BURST] as number;
    const to = times.at(-1) as number;
    return ((times.length - BURST - 1) * 1000) / (to - from);
  });
}

describe('per-key rate limit (lists mode)', () => {
  it(`${RATE} msg/s per key, 5 keys with ${PER_KEY} each published at once: each key at its rate, 0 lost`, async () => {
    const env = { REDISPATCH_KEY_RATE_LIMIT: String(RATE), KEY_HANDLE_MS: '5' };
    await FaultCluster.run(
      { name: 'key-rate', redisUrl: server.url, dispatchers: 2, workers: 2, handler: KEY_RECORDER, env },
      async (fleet) => {
        const keys = ['r0', 'r1', 'r2', 'r3', 'r4'];
        await publishKeyed(fleet.admin, fleet.env.REDISPATCH_CHANNEL as string, keys, PER_KEY);
        await expect
          .poll(() => summarise(readKeyLog(fleet.dir)).ended, { timeout: 30_000, interval: 200 })
          .toBe(keys.length * PER_KEY);
        const rates = steadyRates(fleet, keys);
        console.log(
          `key rate ${RATE}/s, burst ${BURST}: per key ${rates.map((r) => r.toFixed(2)).join(', ')} msg/s`,
        );
        for (const rate of rates) {
          // Never above the limit (one token of slack for the window's edges), a generous floor.
          expect(rate).toBeLessThanOrEqual(RATE * 1.05 + 0.5);
          expect(rate).toBeGreaterThan(RATE * 0.6);
        }
        expect(FaultCluster.inventory(await fleet.waitIdle(30_000)).missing).toBe(0);
      },
    );
  }, 120_000);

  it('both limits: concurrency 1 and 10 msg/s per key — one at a time, in order, never above the rate', async () => {
    const env = {
      REDISPATCH_KEY_RATE_LIMIT: String(RATE),
      REDISPATCH_KEY_CONCURRENCY: '1',
      KEY_HANDLE_MS: '20',
    };
    await FaultCluster.run(
      { name: 'key-both', redisUrl: server.url, dispatchers: 1, workers: 2, handler: KEY_RECORDER, env },
      async (fleet) => {
        const keys = ['b0', 'b1', 'b2'];
        await publishKeyed(fleet.admin, fleet.env.REDISPATCH_CHANNEL as string, keys, 30);
        await expect
          .poll(() => summarise(readKeyLog(fleet.dir)).ended, { timeout: 30_000, interval: 200 })
          .toBe(90);
        const summary = summarise(readKeyLog(fleet.dir));
        for (const key of keys) {
          expect(summary.maxInHandler.get(key), key).toBe(1);
          expect(summary.firstStarts.get(key), key).toEqual(Array.from({ length: 30 }, (_, i) => i));
        }
        // 30 per key at 10/s after a burst of 10: at least ~2 s per key.
        const events = readKeyLog(fleet.dir);
        for (const key of keys) {
          const starts = events.filter((e) => e.key === key && e.kind === 'start').map((e) => e.ms);
          expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(
            ((30 - BURST - 1) * 1000) / RATE,
          );
        }
      },
    );
  }, 120_000);
});
