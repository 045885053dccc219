// Fault injection (issue 8) in streams mode, on a real 3-master Redis Cluster: leader SIGKILL and
// SIGSTOP (per-partition fences, replay from the newest marker over all partitions), worker SIGKILL and
// SIGSTOP (entries reclaimed after the ack timeout instead of reassigned at the worker TTL). Clock
// skew, a poison message and a burst far above the drain rate: streams-skew-poison.test.ts; the
// data-store faults (a master restarted, proxied links, maxmemory): streams-redis.test.ts.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadPartitions } from '@redispatch/shared';
import { type RedisClusterHandle, startRedisCluster } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliProcess } from '../helpers/cli-process.js';
import { FaultCluster, faultSize, killEverything, logLines, sleep } from '../helpers/fault-cluster.js';
import { printFaultTable, recordFault, seconds } from '../helpers/fault-table.js';
import { describeTakeovers, failoverDuplicateBound, unmatchedWithReplay } from '../helpers/takeovers.js';

const _POISON_HANDLER = fileURLToPath(new URL('../helpers/poison-handler.mjs', import.meta.url));

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(async () => {
  await killEverything();
  await cluster?.stop();
  printFaultTable('streams');
});

/** Failure diagnosis: where the first missing seq of a range sits (stream, PEL, DLQ), per partition. */
async function whereAre(fleet: FaultCluster, runId: string, ranges: string): Promise<string> {
  const first = /\d+/.exec(ranges)?.[0];
  const partitions = await loadPartitions(fleet.data, fleet.keys, fleet.prefix, 6);
  const out: string[] = [`looking for ${runId}:${first}: in ${ranges}`];
  for (const p of partitions) {
    const entries = (await fleet.data.xrange(p.stream, '-', '+')) as [string, string[]][];
    const hit = entries.find(([, f]) => f[f.indexOf('p') + 1]?.startsWith(`${runId}:${first}:`));
    const dead = (await fleet.data.xrange(p.dlq, '-', '+')) as [string, string[]][];
    const deadHit = dead.find(([, f]) => f.some((v) => v.startsWith(`${runId}:${first}:`)));
    const info = await fleet.data.xinfo('GROUPS', p.stream);
    out.push(
      `partition ${p.index}: len ${entries.length} hit ${hit?.[0]} dlq ${deadHit?.[0]} groups ${JSON.stringify(info)} applied ${await fleet.data.get(p.applied)} progress ${await fleet.data.get(p.progress)}`,
    );
  }
  return out.join('\n');
}
const on = () => ({ redisUrl: cluster.nodes[0]?.url ?? '', clusterSeeds: cluster.seeds });

describe('fault injection: streams mode on a Redis Cluster', () => {
  const kills = faultSize(3, 2);
  it(`1s. leader SIGKILL x${kills} under load: 0 lost, duplicates ≤ replayed`, async () => {
    const fleet = await FaultCluster.start({ name: 's1-kill', ...on(), dispatchers: 5 });
    try {
      const count = faultSize(12_000, 6_000);
      const publishing = fleet.publish('s1', count, 2_000);
      await fleet.waitAccepted(1_000);
      const firstEpoch = (await fleet.leader()).epoch;
      const takeovers: number[] = [];
      for (let k = 0; k < kills; k++) {
        const { proc, epoch } = await fleet.leader();
        const killedAt = performance.now();
        proc.kill('SIGKILL');
        takeovers.push((await fleet.newLeader(epoch, killedAt)).ms);
        await sleep(400);
      }
      expect((await publishing).code).toBe(0);
      const result = await fleet.waitHandled('s1', count);
      const stats = await fleet.waitIdle();
      const elections = fleet.elections();
      const afterKills = elections.filter((e) => e.epoch > firstEpoch);
      recordFault({
        scenario: `1s. streams: leader SIGKILL x${kills} @2k/s`,
        lost: result.lost,
        duplicates: result.duplicates,
        recover: `takeover ${takeovers.map(seconds).join(', ')}`,
        notes: `${count} msgs; replayed ${stats.totals.failoverReplayed}; markers matched ${afterKills.filter((e) => e.markerMatched).length}/${afterKills.length}`,
      });
      if (result.lost > 0) console.info(await whereAre(fleet, 's1', fleet.missingRanges('s1', count)));
      expect(result.lost, `${fleet.missingRanges('s1', count)}\n${fleet.leadershipEvents()}`).toBe(0);
      // Unkeyed messages: each batch and its marker are one script call on one partition, so a takeover
      // that found the marker replays only what was never written — and every standby heard everything.
      const detail = describeTakeovers(elections);
      expect(unmatchedWithReplay(afterKills), detail).toEqual([]);
      expect(result.duplicates, detail).toBeLessThanOrEqual(failoverDuplicateBound(elections));
    } finally {
      await fleet.close();
    }
  }, 120_000);

  it('2s. leader SIGSTOP past its lease, then SIGCONT: its late writes fenced on the partitions, 0 lost', async () => {
    const fleet = await FaultCluster.start({ name: 's2-stop', ...on() });
    try {
      const count = faultSize(9_000, 6_000);
      const publishing = fleet.publish('s2', count, 1_500);
      await fleet.waitAccepted(1_500);
      const { proc: old, epoch } = await fleet.leader();
      const stoppedAt = performance.now();
      old.kill('SIGSTOP');
      const next = await fleet.newLeader(epoch, stoppedAt);
      await sleep(Math.max(0, 3_000 - (performance.now() - stoppedAt)));
      old.kill('SIGCONT');
      await old.waitForLog(/"msg":"stepped down"/, 5_000);
      const reason = logLines(old).find((l) => l.msg === 'stepped down')?.reason;
      expect((await fleet.stats()).leader?.epoch).toBeGreaterThanOrEqual(next.epoch);
      expect((await publishing).code).toBe(0);
      const result = await fleet.waitHandled('s2', count);
      const stats = await fleet.waitIdle();
      recordFault({
        scenario: '2s. streams: leader SIGSTOP 3 s (lease 1 s), SIGCONT',
        lost: result.lost,
        duplicates: result.duplicates,
        recover: `new leader ${seconds(next.ms)}; ex-leader stepped down (${String(reason)})`,
        notes: `${count} msgs; replayed ${stats.totals.failoverReplayed}`,
      });
      expect(['fenced', 'lease_expired', 'renewal_failed']).toContain(reason);
      expect(result.lost).toBe(0);
      const elections = fleet.elections();
      const detail = describeTakeovers(elections);
      expect(elections.find((e) => e.epoch === next.epoch)?.markerMatched, detail).toBe(true);
      expect(result.duplicates, detail).toBeLessThanOrEqual(failoverDuplicateBound(elections));
    } finally {
      await fleet.close();
    }
  }, 120_000);

  it('6as. worker SIGKILL holding a full batch: its entries reclaimed after the ack timeout, 0 lost, duplicates ≤ concurrency', async () => {
    const concurrency = 16;
    await FaultCluster.run(
      { name: 's6-kill', ...on(), concurrency, env: { CHECK_DELAY_MS: '50' } },
      async (fleet) => {
        const count = faultSize(3_000, 1_500);
        const publishing = fleet.publish('s6', count, 600);
        await fleet.waitAccepted(faultSize(1_200, 600));
        const victim = [...fleet.workers.values()][0] as CliProcess;
        const victimId = `${fleet.prefix}-w0`;
        const killedAt = performance.now();
        victim.kill('SIGKILL');
        const held = (await fleet.stats()).workers.find((w) => w.id === victimId)?.inflight ?? 0;
        await fleet.startWorker();
        // Its pending entries are XAUTOCLAIMed by the live workers once idle past the ack timeout (2 s).
        await expect
          .poll(async () => (await fleet.stats()).workers.find((w) => w.id === victimId)?.inflight ?? 0, {
            timeout: 15_000,
            interval: 50,
          })
          .toBe(0);
        const reclaimedMs = performance.now() - killedAt;
        expect((await publishing).code).toBe(0);
        const result = await fleet.waitHandled('s6', count);
        const stats = await fleet.waitIdle();
        recordFault({
          scenario: '6as. streams: worker SIGKILL holding a full batch',
          lost: result.lost,
          duplicates: result.duplicates,
          recover: `pending entries reclaimed ${seconds(reclaimedMs)} after the kill (ack timeout 2 s)`,
          notes: `held ${held} pending at the kill; reclaimed ${stats.totals.redelivered}; bound dup ≤ ${concurrency}`,
        });
        expect(held).toBeGreaterThan(0);
        expect(result.lost).toBe(0);
        expect(result.duplicates).toBeLessThanOrEqual(concurrency);
        expect(stats.totals.acked).toBeGreaterThanOrEqual(count);
      },
    );
  }, 120_000);

  it('6bs. worker frozen (SIGSTOP) past the ack timeout, then resumed: entries reclaimed, state consistent, 0 lost', async () => {
    const concurrency = 16;
    await FaultCluster.run(
      // The other worker needs room to reclaim (it takes over entries only into free slots): 16 slots
      // at 40 ms drain 400/s, above the 250/s published. At 100 ms (160/s) a busy box kept it full
      // through the freeze and nothing was reclaimed.
      { name: 's6-freeze', ...on(), workers: 1, concurrency, env: { CHECK_DELAY_MS: '40' } },
      async (fleet) => {
        const frozen = await fleet.startWorker();
        const frozenId = `${fleet.prefix}-w1`;
        await expect.poll(async () => (await fleet.stats()).workers.length, { timeout: 10_000 }).toBe(2);
        const count = faultSize(1_500, 1_000);
        const publishing = fleet.publish('s6b', count, 250);
        await fleet.waitAccepted(375);
        const frozenAt = performance.now();
        frozen.kill('SIGSTOP');
        const held = (await fleet.stats()).workers.find((w) => w.id === frozenId)?.inflight ?? 0;
        await sleep(Math.max(0, 3_500 - (performance.now() - frozenAt)));
        frozen.kill('SIGCONT');
        expect((await publishing).code).toBe(0);
        const result = await fleet.waitHandled('s6b', count);
        const stats = await fleet.waitIdle();
        recordFault({
          scenario: '6bs. streams: worker SIGSTOP 3.5 s (ack timeout 2 s), SIGCONT',
          lost: result.lost,
          duplicates: result.duplicates,
          recover: 'entries idle past the ack timeout reclaimed by the other worker',
          notes: `held ${held} at freeze; reclaimed ${stats.totals.redelivered}; acked ${stats.totals.acked}, accepted ${stats.totals.accepted}; pending ${stats.inflight}`,
        });
        expect(held).toBeGreaterThan(0);
        expect(result.lost).toBe(0);
        expect(result.duplicates).toBeLessThanOrEqual(concurrency);
        expect(stats.totals.redelivered).toBeGreaterThan(0);
        expect(stats.totals.acked).toBe(stats.totals.accepted);
        expect(stats.inflight).toBe(0);
      },
    );
  }, 120_000);

  // 7s. Every time that matters in streams mode is the server's: an entry's idle time (reclaim after the
  // ack timeout), the delayed set's due times (a relative delay is added to the server clock inside the
  // append script), heartbeats and the dedupe window. With libfaketime every process runs an hour fast
  // or slow (monotonic clocks untouched, as NTP would leave them); a worker is SIGKILLed midway so the
  // reclaim path runs under skew too. A reclaim on a skewed clock would take everyone's entries at
  // once; a due time on one would hold delayed messages an hour (or not at all).
});
