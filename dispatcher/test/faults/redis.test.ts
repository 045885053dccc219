// Fault injection (issue 8), data Redis side: a crash with AOF, a faulty link (TCP proxy), maxmemory.
// Real processes (CLI dispatchers and checker workers), Redis pub/sub ingress, lists mode.
import { performance } from 'node:perf_hooks';
import { readStats } from '@redispatch/shared';
import { type RedisHandle, startRedis, startRedisProcess } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminConnection,
  FAULTS_FULL,
  FaultCluster,
  type FaultClusterOptions,
  faultSize,
  killEverything,
  logLines,
  publishWithRetry,
  sleep,
} from '../helpers/fault-cluster.js';
import { printFaultTable, recordFault, seconds } from '../helpers/fault-table.js';
import { runLinkFaults } from '../helpers/link-faults.js';
import { describeTakeovers, failoverDuplicateBound } from '../helpers/takeovers.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let server: RedisHandle;
const extraServers: RedisHandle[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await killEverything();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all([server, ...extraServers].map((s) => s?.stop()));
  printFaultTable('redis');
});

async function redisProcess(args: string[] = []): Promise<RedisHandle> {
  const handle = await startRedisProcess({ args });
  extraServers.push(handle);
  return handle;
}

/** Polls `read` until it returns more than `than`; resolves with the milliseconds since `since`. */
async function grows(read: () => Promise<number>, than: number, since: number, timeoutMs = 15_000) {
  await expect
    .poll(async () => read().catch(() => -1), { timeout: timeoutMs, interval: 25 })
    .toBeGreaterThan(than);
  return performance.now() - since;
}

describe('fault injection: the data Redis', () => {
  // 4. The data Redis SIGKILLed mid-stream and restarted on the same port and directory (AOF reload).
  // Metrics, exactly:
  // - accepted lost = max(0, acceptedAtKill - acceptedAfterReload): `acceptedAtKill` is the last
  //   totals.accepted Redis answered before the kill (the counter moves in the same script call as the
  //   messages, so every acceptance it counts was acknowledged to the leader); `acceptedAfterReload` is
  //   the first read after the AOF reload, before any dispatcher wrote again.
  // - missing = accepted - acked - dead letters - (queued + in flight + delayed + backlog), once settled:
  //   an accepted id that vanished from every structure.
  // - end to end: the publisher resends every PUBLISH that failed or reached no subscriber, so each
  //   numbered message was heard by a subscribed dispatcher; `lost` counts, per sequence number, those
  //   never handled. The test waits past the visibility timeout for them, then asserts none is left
  //   unhandled and nothing is left in Redis (a wedged worker's queue, see 4c, fails it).
  // Regression (this test and 4c failed intermittently, ~1 run in 6, until the dispatchers ranked
  // themselves after a subscription gap): a Redis restart drops every dispatcher's subscription; they
  // resubscribe at different times (reconnect backoff 100 ms, 200 ms, … up to 2 s), and the first one
  // back hears messages the others do not. The ex-leader campaigned one lease after its step-down
  // whether or not it was back, and any standby could win; whoever led wrote only what it heard, and
  // the others trimmed the rest as soon as its marker showed up in their buffers (seen: 227 of 7,000
  // lost; in 4c 174 of 200). Now a dispatcher with a gap does not campaign until it has resubscribed and
  // read its rank (PUBSUB NUMSUB just after its SUBSCRIBE: 1 = first back), then campaigns `rank` leases
  // later and retries every rank × lease/4, so the first one back leads.
  // everysec: Redis normally write(2)s the AOF before it replies, so a process kill loses nothing; but
  // while a background fsync is slow (a loaded disk) it postpones the write for up to 2 s and replies
  // anyway, so acknowledged writes of the last 2 s before the kill can be lost (Redis's documented
  // everysec window; seen here: 20 acceptances). The bound asserted is exactly that; the standbys'
  // buffers replay what Redis lost, so nothing is lost end to end.
  // The bounded form (npm test) runs `always` only: a process kill cannot tell the two apart (see above).
  it.each(FAULTS_FULL ? (['always', 'everysec'] as const) : (['always'] as const))(
    '4. data Redis SIGKILL + restart with AOF appendfsync %s: nothing accepted is lost',
    async (fsync) => {
      const data = await redisProcess(['--appendonly', 'yes', '--appendfsync', fsync]);
      await FaultCluster.run({ name: `f4-${fsync}`, redisUrl: data.url }, async (cluster) => {
        const runId = `f4${fsync}`;
        const count = faultSize(7_000, 5_000);
        const publishing = publishWithRetry({
          url: data.url,
          channel: cluster.env.REDISPATCH_CHANNEL as string,
          runId,
          count,
          rate: 1_000,
        });
        let acceptedAtKill = 0;
        /** (performance.now(), totals.accepted) samples, for the everysec window. */
        const samples: [number, number][] = [];
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const value = await cluster.accepted().catch(() => undefined);
            if (value !== undefined) {
              acceptedAtKill = value;
              samples.push([performance.now(), value]);
            }
            await sleep(5);
          }
        })();
        await cluster.waitAccepted(faultSize(2_500, 2_000));
        sampling = false;
        await sampler;
        const killedAt = performance.now();
        data.signal('SIGKILL');
        // What Redis had acknowledged 2 s before the kill: everysec may lose what came after, no more.
        const acceptedTwoSecondsBefore = samples.filter(([at]) => at <= killedAt - 2_000).at(-1)?.[1] ?? 0;
        await sleep(1_000);
        await data.restart();
        const restartedAt = performance.now();
        const fresh = adminConnection(data.url);
        await fresh.connect();
        const acceptedAfterReload = Number((await fresh.hget(cluster.keys.totals, 'accepted')) ?? 0);
        fresh.disconnect();
        const flowMs = await grows(() => cluster.accepted(), acceptedAfterReload, restartedAt);
        const published = await publishing;
        // Every numbered message reached a subscribed dispatcher, so every one must be handled: wait
        // past the visibility timeout (10 s), which redelivers what a worker held when Redis died, and
        // give up only when nothing moved for longer than that.
        const result = await cluster.waitHandled(runId, count, 60_000, 15_000);
        const inventory =
          result.lost === 0
            ? FaultCluster.inventory(await cluster.waitIdle())
            : await cluster.settledInventory();
        const stats = await cluster.stats();
        const wedged = stats.workers.filter((w) => w.queued > 0 && w.inflight === 0);
        const acceptedLost = Math.max(0, acceptedAtKill - acceptedAfterReload);
        recordFault({
          scenario: `4. data Redis SIGKILL+restart, AOF ${fsync}`,
          // Per id: numbered messages heard by a dispatcher and never handled, plus accepted ids that vanished.
          lost: result.lost + inventory.missing,
          duplicates: result.duplicates,
          recover: `accepting again ${seconds(flowMs)} after restart (down 1 s)`,
          notes:
            `accepted at kill ≥ ${acceptedAtKill}, after AOF reload ${acceptedAfterReload} (${acceptedLost} acknowledged acceptances lost by Redis); end to end ${result.lost} of ${count} unhandled` +
            (result.lost > 0 ? ` (seq ${cluster.missingRanges(runId, count)})` : '') +
            ', ' +
            `${inventory.outstanding} still in Redis (${wedged.length} worker(s) wedged, see 4c); publisher resent ${published.retries}` +
            (fsync === 'everysec'
              ? `; everysec window bound ${acceptedAtKill - acceptedTwoSecondsBefore} (accepted in the last 2 s); what Redis lost is replayed from standby buffers`
              : ''),
        });
        if (fsync === 'always') expect(acceptedAfterReload).toBeGreaterThanOrEqual(acceptedAtKill);
        else expect(acceptedAfterReload).toBeGreaterThanOrEqual(acceptedTwoSecondsBefore);
        expect(inventory.missing).toBe(0);
        // Per id, not per count: every published sequence number was handled, and nothing is left in
        // Redis that a count could have mistaken for one of them.
        const why =
          result.lost > 0
            ? `unhandled seq ${cluster.missingRanges(runId, count)}; still in Redis ${JSON.stringify(inventory)}\n${cluster.leadershipEvents()}`
            : '';
        expect(result.lost, why).toBe(0);
        expect(inventory.outstanding, why).toBe(0);
        // Every extra handling needs a cause: a failover replay, a redelivery, or a PUBLISH resent after an
        // error whose first copy got through.
        expect(result.duplicates).toBeLessThanOrEqual(
          stats.totals.failoverReplayed + stats.totals.redelivered + published.retries,
        );
      });
    },
    90_000,
  );

  // 4c. Regression test for a defect this suite found (fixed in a6de858: the blocking connection
  // re-sends its BLMOVE and times out): a worker blocked in BLMOVE when its connection dropped never
  // took again. The 'blocking' role had maxRetriesPerRequest: null with autoResendUnfulfilledCommands:
  // false, so ioredis neither rejected the in-flight BLMOVE on close nor re-sent it on reconnect; the
  // take loop awaited it forever while the heartbeat kept the worker "live" and the leader kept routing
  // to its queue. Deterministic: idle workers are always blocked in BLMOVE.
  it('4c. idle workers keep consuming after a data Redis restart', async () => {
    const data = await redisProcess(['--appendonly', 'yes', '--appendfsync', 'always']);
    await FaultCluster.run({ name: 'f4c-idle', redisUrl: data.url }, async (cluster) => {
      await sleep(500);
      data.signal('SIGKILL');
      await sleep(500);
      await data.restart();
      const restartedAt = performance.now();
      await publishWithRetry({
        url: data.url,
        channel: cluster.env.REDISPATCH_CHANNEL as string,
        runId: 'f4c',
        count: 200,
        rate: 1_000,
      });
      // Every one of them reached a subscribed dispatcher, so a new leader must accept all 200 (the
      // resubscription-order defect of scenario 4 showed up here as fewer); then the workers must take them.
      const acceptDeadline = performance.now() + 15_000;
      while ((await cluster.accepted().catch(() => 0)) < 200 && performance.now() < acceptDeadline)
        await sleep(50);
      const result = await cluster.waitHandled('f4c', 200, 8_000);
      const stats = await cluster.stats();
      recordFault({
        scenario: '4c. idle workers across a data Redis restart',
        lost: result.lost,
        duplicates: result.duplicates,
        recover:
          result.lost === 0
            ? `all handled ${seconds(performance.now() - restartedAt)} after restart`
            : 'never',
        notes:
          `${result.lost === 0 ? 'regression check (was: workers wedged in BLMOVE; messages not accepted)' : stats.totals.accepted < 200 ? 'NOT ACCEPTED (see 4)' : 'WEDGED'}: accepted ${stats.totals.accepted}, ` +
          `queued ${stats.workers.map((w) => w.queued).join('/')}, backlog ${stats.backlog}, acked ${stats.totals.acked}; ` +
          `heartbeat age ${stats.workers.map((w) => w.heartbeatAgeMs).join('/')} ms`,
      });
      const why =
        stats.totals.accepted < 200 ? `\n${cluster.leadershipEvents()}\n${await cluster.diagnose(8)}` : '';
      expect(stats.totals.accepted, `published to a subscribed dispatcher but never accepted${why}`).toBe(
        200,
      );
      expect(result.lost).toBe(0);
    });
  }, 60_000);

  // 5. A TCP proxy between each dispatcher and the data Redis (its lease lives there too, the default);
  // faults hit the current leader's link. Workers and the publisher connect directly.
  it('5. leader link through a TCP proxy: latency, one-way stall past the lease (late writes fenced), cut, stall+drop: 0 lost', async () => {
    const links = await Promise.all([0, 1, 2].map(() => new TcpProxy(server.port).start()));
    proxies.push(...links);
    const options = {
      name: 'f5-proxy',
      redisUrl: server.url,
      dispatcherRedisUrl: (index: number) => (links[index] as TcpProxy).url,
    };
    await FaultCluster.run(options, async (cluster) => {
      const count = 16_000;
      const publishing = cluster.publish('f5', count, 1_500);
      const linkOf = (pid: number) => links[cluster.dispatcherIndex.get(pid) ?? -1] as TcpProxy;
      await cluster.waitAccepted(1_500);
      const { phases, fenced } = await runLinkFaults(cluster, linkOf);

      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('f5', count);
      const stats = await cluster.waitIdle();
      const inventory = FaultCluster.inventory(stats);
      const reasons = cluster.stepDowns().map((s) => s.reason);
      recordFault({
        scenario: '5a. TCP proxy on leader link (lease via proxy)',
        lost: result.lost,
        duplicates: result.duplicates,
        recover: phases.join('; '),
        notes: `${count} msgs @1.5k/s; late writes fenced after the stall ${fenced}; step-downs ${reasons.join(',')}; replayed ${stats.totals.failoverReplayed}; missing ${inventory.missing}`,
      });
      // One writer: what the stalled ex-leader had sent reached Redis late and was refused by the fence.
      expect(fenced).toBeGreaterThan(0);
      expect(result.lost).toBe(0);
      // Retried batches are recognised by the script; a replay adds duplicates only where the takeover's
      // marker did not match (an ex-leader re-elected replays its own unwritten messages: counted, none written).
      const elections = cluster.elections();
      expect(result.duplicates, describeTakeovers(elections)).toBeLessThanOrEqual(
        failoverDuplicateBound(elections),
      );
      expect(inventory.missing).toBe(0);
    });
  }, 90_000);

  // 5b. Regression test for a defect this suite found (fixed in a6de858: a leader whose subscription
  // drops steps down so a connected standby replays the gap). The partition a deployment with separate
  // lock masters can have: the leader loses its data Redis link, its pub/sub subscription included, but
  // still reaches the lock masters, so it keeps the lease. Standbys heard every message published
  // meanwhile (DESIGN guarantee 2: accepted). Before the fix nobody took over, the leader resubscribed
  // without noticing the gap, and the standbys trimmed the gap as soon as the leader's 3-message marker
  // lined up again: every message published during the cut (~1,500) was lost.
  it('5b. leader data link cut 1.5 s while its lease (separate lock master) holds: 0 lost', async () => {
    const lock = await redisProcess();
    const links = await Promise.all([0, 1, 2].map(() => new TcpProxy(server.port).start()));
    proxies.push(...links);
    const options = {
      name: 'f5b-partition',
      redisUrl: server.url,
      dispatcherRedisUrl: (index: number) => (links[index] as TcpProxy).url,
      env: { REDISPATCH_LOCK_URLS: lock.url },
    };
    await FaultCluster.run(options, async (cluster) => {
      const count = faultSize(5_000, 3_500);
      const publishing = cluster.publish('f5b', count, 1_000);
      await cluster.waitAccepted(1_000);
      const leader = await cluster.leader();
      const link = links[cluster.dispatcherIndex.get(leader.proc.pid) ?? -1] as TcpProxy;
      const cutAt = performance.now();
      link.cut(1_500);
      const acceptedBefore = await cluster.accepted();
      const flowMs = await grows(() => cluster.accepted(), acceptedBefore + 100, cutAt);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('f5b', count, 6_000);
      const stats = await cluster.stats();
      const inventory = FaultCluster.inventory(stats);
      const sameLeader = stats.leader?.epoch === leader.epoch;
      recordFault({
        scenario: '5b. leader data link cut 1.5 s, lease elsewhere',
        lost: result.lost,
        duplicates: result.duplicates,
        recover: `accepting again ${seconds(flowMs)} after the cut`,
        notes:
          `${sameLeader ? 'same leader kept the lease' : 'leader changed'}; step-downs ${
            cluster
              .stepDowns()
              .map((d) => d.reason)
              .join(',') || 'none'
          }; ` +
          `never handled: ${cluster.missingRanges('f5b', count) || 'none'}; missing ${inventory.missing}`,
      });
      expect(result.lost).toBe(0);
    });
  }, 60_000);

  // 8. maxmemory with noeviction: every script whose first write would grow memory is refused ("OOM
  // command not allowed"). Variant 1: a separate lock master, so the lease is unaffected and the leader
  // must hold its batch and retry it. Variant 2 (the default deployment): the lease lives on the data
  // Redis too, so renewals are refused and the leader steps down; standbys buffer until it is back.
  it.each([
    ['separate lock master', true],
    ['lease on the data Redis', false],
  ] as const)(
    '8. data Redis at maxmemory (noeviction), %s: no crash, flows again, 0 lost',
    async (label, separateLock) => {
      const data = await redisProcess();
      const lock = separateLock ? await redisProcess() : undefined;
      const options: FaultClusterOptions = {
        name: separateLock ? 'f8-oom' : 'f8-oom-lease',
        redisUrl: data.url,
        env: lock ? { REDISPATCH_LOCK_URLS: lock.url } : {},
      };
      await FaultCluster.run(options, async (cluster) => {
        const runId = separateLock ? 'f8' : 'f8l';
        const count = faultSize(7_000, 6_000);
        const publishing = cluster.publish(runId, count, 1_000);
        await cluster.waitAccepted(1_500);
        const before = await cluster.leader();
        await cluster.admin.config('SET', 'maxmemory-policy', 'noeviction');
        await cluster.admin.config('SET', 'maxmemory', '1');
        const oomAt = performance.now();
        const acceptedAtOom = await cluster.accepted();
        await sleep(1_000);
        // `redispatch stats` reads in MULTI, which Redis refuses as a whole at maxmemory.
        const statsDuringOom = await readStats(cluster.admin, cluster.keys, cluster.prefix).then(
          () => 'ok',
          (error: Error) => error.message.slice(0, 40),
        );
        await sleep(2_000);
        const acceptedDuring = await cluster.accepted();
        const alive = cluster.allDispatchers.filter((p) => p.child.exitCode === null).length;
        await cluster.admin.config('SET', 'maxmemory', '0');
        const restoredAt = performance.now();
        const flowMs = await grows(() => cluster.accepted(), acceptedDuring, restoredAt);
        expect((await publishing).code).toBe(0);
        const result = await cluster.waitHandled(runId, count);
        const stats = await cluster.waitIdle();
        const inventory = FaultCluster.inventory(stats);
        const refused = logLines(before.proc).filter(
          (l) => l.msg === 'batch write failed; retrying the same batch' && /OOM/.test(JSON.stringify(l.err)),
        ).length;
        const stepDowns = cluster.stepDowns();
        const workerExits = cluster.allWorkers.filter((w) => w.child.exitCode !== null).length;
        const reRegistered = cluster.allWorkers.filter((w) => /re-registered/.test(w.output())).length;
        recordFault({
          scenario: `8. maxmemory 3 s, ${label}`,
          lost: result.lost + inventory.missing,
          duplicates: result.duplicates,
          recover: `accepting again ${seconds(flowMs)} after maxmemory 0`,
          notes:
            `accepted during OOM ${acceptedDuring - acceptedAtOom}; leader batch retries on OOM ${refused}; ` +
            `step-downs ${stepDowns.map((s) => s.reason).join(',') || 'none'}; workers re-registered ${reRegistered}; ` +
            `redelivered ${stats.totals.redelivered}; stats during OOM: ${statsDuringOom}; OOM ${seconds(restoredAt - oomAt)}`,
        });
        expect(alive).toBe(3);
        expect(workerExits).toBe(0);
        expect(result.lost).toBe(0);
        expect(inventory.missing).toBe(0);
        expect(result.duplicates).toBeLessThanOrEqual(
          stats.totals.failoverReplayed + stats.totals.redelivered,
        );
        if (separateLock) {
          // The leader kept its lease and retried its batch until Redis took writes again.
          expect(refused).toBeGreaterThan(0);
          expect(stepDowns.length).toBe(0);
        }
      });
    },
    90_000,
  );
});
