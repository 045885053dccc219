// Per-key concurrency in lists mode (REDISPATCH_KEY_CONCURRENCY; docs/flow-control.md, Per-key limits)
// with real processes: the handler (fixtures/key-recorder.mjs) logs every entry and exit to one file
// shared by all workers, in real order, so "two of one key in a handler at once" and "a key's messages
// first handled out of publish order" are read from the log, not inferred from timings.
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCluster, killEverything } from '../helpers/fault-cluster.js';
import {
  KEY_RECORDER,
  markKilled,
  percentile,
  publishKeyed,
  readKeyLog,
  releaseGapsMs,
  summarise,
} from '../helpers/key-log.js';

let server: RedisHandle;
beforeAll(async () => {
  server = await startRedis();
}, 60_000);
afterAll(async () => {
  await killEverything();
  await server?.stop();
});

const keyNames = (count: number, prefix = 'k') => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
const inOrder = (count: number) => Array.from({ length: count }, (_, i) => i);

async function waitEnded(fleet: FaultCluster, count: number, timeoutMs: number): Promise<void> {
  await expect
    .poll(() => summarise(readKeyLog(fleet.dir)).ended, { timeout: timeoutMs, interval: 100 })
    .toBe(count);
}

describe('per-key concurrency (lists mode)', () => {
  it('N = 1 under 3 workers, one SIGKILLed mid-run: each key one at a time, first handled in publish order, 0 lost', async () => {
    const env = { REDISPATCH_KEY_CONCURRENCY: '1', KEY_HANDLE_MS: '30' };
    await FaultCluster.run(
      { name: 'key-one', redisUrl: server.url, dispatchers: 2, workers: 3, handler: KEY_RECORDER, env },
      async (fleet) => {
        const keys = keyNames(20);
        const perKey = 40;
        await publishKeyed(fleet.admin, fleet.env.REDISPATCH_CHANNEL as string, keys, perKey);
        await expect
          .poll(() => summarise(readKeyLog(fleet.dir)).ended, { timeout: 20_000 })
          .toBeGreaterThan(150);
        const victim = [...fleet.workers.values()][0];
        if (!victim) throw new Error('no worker to kill');
        victim.kill('SIGKILL');
        await victim.exited();
        markKilled(fleet.dir, victim.pid);
        const atKill = readKeyLog(fleet.dir);
        // Mid-run, with handlers of the victim cut off (their messages are redelivered, slot kept).
        expect(summarise(atKill).ended).toBeLessThan(keys.length * perKey);
        const cut = atKill.filter(
          (e) =>
            e.kind === 'start' &&
            e.pid === victim.pid &&
            !atKill.some(
              (f) => f.kind === 'end' && f.pid === victim.pid && f.key === e.key && f.seq === e.seq,
            ),
        );
        expect(cut.length).toBeGreaterThan(0);
        await waitEnded(fleet, keys.length * perKey, 60_000);
        const summary = summarise(readKeyLog(fleet.dir));
        for (const key of keys) {
          expect(summary.firstStarts.get(key), key).toEqual(inOrder(perKey));
          expect(summary.maxInHandler.get(key), key).toBe(1);
        }
        expect(FaultCluster.inventory(await fleet.waitIdle(30_000)).missing).toBe(0);
      },
    );
  }, 120_000);

  it('a busy key does not hold up the others: their messages all finish before the slow key is half done', async () => {
    const env = {
      REDISPATCH_KEY_CONCURRENCY: '1',
      KEY_HANDLE_MS: '5',
      KEY_SLOW: 'hot',
      KEY_SLOW_MS: '100',
    };
    await FaultCluster.run(
      { name: 'key-busy', redisUrl: server.url, dispatchers: 1, workers: 2, handler: KEY_RECORDER, env },
      async (fleet) => {
        const channel = fleet.env.REDISPATCH_CHANNEL as string;
        // The hot key's 40 first (the backlog's head), then 10 other keys' 10 each.
        await publishKeyed(fleet.admin, channel, ['hot'], 40);
        const others = keyNames(10, 'cool');
        await publishKeyed(fleet.admin, channel, others, 10);
        await waitEnded(fleet, 40 + 100, 60_000);
        const events = readKeyLog(fleet.dir);
        const summary = summarise(events);
        const hotEnds = events.flatMap((e, i) => (e.key === 'hot' && e.kind === 'end' ? [i] : []));
        const othersDone = Math.max(
          ...others.map((key) => summary.lastEnd.get(key) ?? Number.POSITIVE_INFINITY),
        );
        expect(othersDone).toBeLessThan(hotEnds[19] as number);
        expect(summary.maxInHandler.get('hot')).toBe(1);
        expect(summary.firstStarts.get('hot')).toEqual(inOrder(40));
      },
    );
  }, 120_000);

  it('N = 1, no fault: prints the release latency (from a handler end to the next start of its key)', async () => {
    // A slow reap tick: a release that waited for the leader's upkeep would show as ~half a second.
    const env = { REDISPATCH_KEY_CONCURRENCY: '1', KEY_HANDLE_MS: '10', REDISPATCH_REAP_INTERVAL_MS: '1000' };
    await FaultCluster.run(
      { name: 'key-latency', redisUrl: server.url, dispatchers: 1, workers: 3, handler: KEY_RECORDER, env },
      async (fleet) => {
        const keys = keyNames(10);
        await publishKeyed(fleet.admin, fleet.env.REDISPATCH_CHANNEL as string, keys, 50);
        await waitEnded(fleet, 500, 60_000);
        const gaps = releaseGapsMs(readKeyLog(fleet.dir));
        console.log(
          `key release latency (N=1, 10 keys x 50, 3 workers, 10 ms handler): p50 ${percentile(gaps, 50)} ms, p99 ${percentile(gaps, 99)} ms, max ${gaps.at(-1)} ms over ${gaps.length} releases`,
        );
        // Far below the reap interval: no release waits for a reap tick.
        expect(gaps.length).toBe(keys.length * 49);
        expect(percentile(gaps, 50)).toBeLessThan(200);
      },
    );
  }, 120_000);

  it('N = 2 lets two of a key into handlers at once, never three', async () => {
    const env = { REDISPATCH_KEY_CONCURRENCY: '2', KEY_HANDLE_MS: '40' };
    await FaultCluster.run(
      { name: 'key-two', redisUrl: server.url, dispatchers: 1, workers: 3, handler: KEY_RECORDER, env },
      async (fleet) => {
        const keys = keyNames(4);
        await publishKeyed(fleet.admin, fleet.env.REDISPATCH_CHANNEL as string, keys, 30);
        await waitEnded(fleet, 120, 60_000);
        const summary = summarise(readKeyLog(fleet.dir));
        for (const key of keys) expect(summary.maxInHandler.get(key), key).toBe(2);
      },
    );
  }, 120_000);

  it('N = 1 across a leader SIGKILL: the gate holds (state in Redis), order kept, 0 lost', async () => {
    const env = { REDISPATCH_KEY_CONCURRENCY: '1', KEY_HANDLE_MS: '30' };
    await FaultCluster.run(
      { name: 'key-failover', redisUrl: server.url, dispatchers: 3, workers: 3, handler: KEY_RECORDER, env },
      async (fleet) => {
        const keys = keyNames(20);
        const perKey = 40;
        await publishKeyed(fleet.admin, fleet.env.REDISPATCH_CHANNEL as string, keys, perKey);
        await expect
          .poll(() => summarise(readKeyLog(fleet.dir)).ended, { timeout: 20_000 })
          .toBeGreaterThan(150);
        const { proc, epoch } = await fleet.leader();
        proc.kill('SIGKILL');
        expect(summarise(readKeyLog(fleet.dir)).ended).toBeLessThan(keys.length * perKey);
        await fleet.newLeader(epoch, performance.now());
        await waitEnded(fleet, keys.length * perKey, 60_000);
        const summary = summarise(readKeyLog(fleet.dir));
        for (const key of keys) {
          expect(summary.firstStarts.get(key), key).toEqual(inOrder(perKey));
          expect(summary.maxInHandler.get(key), key).toBe(1);
        }
        expect(FaultCluster.inventory(await fleet.waitIdle(30_000)).missing).toBe(0);
      },
    );
  }, 120_000);
});
