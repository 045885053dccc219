// Fault injection (issue 8) in streams mode, data-store side, on a real 3-master Redis Cluster with AOF
// (appendfsync always): one master SIGKILLed and restarted, the leader's links to every master through
// TCP proxies (latency, a one-way stall past the lease, a cut, a stall then drop), and one master at
// maxmemory — the partition node, then the node holding the lease and the ingress subscription.
import { performance } from 'node:perf_hooks';
import { calculateSlot, loadPartitions, type PartitionKeys } from '@redispatch/shared';
import { type ClusterNodeHandle, type RedisClusterHandle, startRedisCluster } from '@redispatch/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  adminConnection,
  FaultCluster,
  faultSize,
  killEverything,
  logLines,
  publishWithRetry,
  sleep,
} from '../helpers/fault-cluster.js';
import { printFaultTable, recordFault, seconds } from '../helpers/fault-table.js';
import { type FaultableLink, runLinkFaults } from '../helpers/link-faults.js';
import { describeTakeovers, failoverDuplicateBound } from '../helpers/takeovers.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let cluster: RedisClusterHandle;
const proxies: TcpProxy[] = [];
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
}, 60_000);
// A scenario that failed midway must not hand the next one a cluster still re-forming.
beforeEach(async () => {
  await cluster.waitHealthy();
}, 60_000);
afterAll(async () => {
  await killEverything();
  await Promise.all(proxies.map((p) => p.close()));
  await cluster?.stop();
  printFaultTable('streams-redis');
});

/**
 * The masters a fault can hit: `lease` serves the deployment's own slot (epoch, lease, leader record —
 * and, since dispatchers pin their ingress subscription to it, the channel); `partitionOnly` is another
 * master serving at least one partition stream, with those partitions.
 */
async function roles(fleet: FaultCluster) {
  const partitions = await loadPartitions(fleet.data, fleet.keys, fleet.prefix, 6);
  const lease = await cluster.ownerOf(calculateSlot(fleet.keys.epoch));
  const owners = await Promise.all(partitions.map((p) => cluster.ownerOf(calculateSlot(p.stream))));
  const partitionNode = owners.find((node) => node.port !== lease.port) as ClusterNodeHandle;
  expect(partitionNode, 'every partition sits on the lease node: the spread is broken').toBeDefined();
  const onNode = (node: ClusterNodeHandle): PartitionKeys[] =>
    partitions.filter((_, i) => owners[i]?.port === node.port);
  return { partitions, lease, partitionNode, onNode };
}

/** totals.accepted of some partitions, read on the cluster (undefined while their master is down). */
async function acceptedOn(fleet: FaultCluster, partitions: readonly PartitionKeys[]) {
  const values = await Promise.all(partitions.map((p) => fleet.data.hget(p.totals, 'accepted')));
  return values.reduce((sum, v) => sum + Number(v ?? 0), 0);
}

/** Polls `read` until it returns more than `than`; resolves with the milliseconds since `since`. */
async function grows(read: () => Promise<number>, than: number, since: number, timeoutMs = 20_000) {
  await expect
    .poll(async () => read().catch(() => -1), { timeout: timeoutMs, interval: 25 })
    .toBeGreaterThan(than);
  return performance.now() - since;
}

/** One dispatcher's links: a proxy in front of every master, reached through REDISPATCH_CLUSTER_NAT_MAP. */
class LinkSet implements FaultableLink {
  constructor(readonly links: TcpProxy[]) {}
  static async open(nodes: readonly ClusterNodeHandle[]): Promise<LinkSet> {
    const links = await Promise.all(nodes.map((node) => new TcpProxy(node.port).start()));
    proxies.push(...links);
    return new LinkSet(links);
  }
  env(nodes: readonly ClusterNodeHandle[]): Record<string, string> {
    return {
      REDISPATCH_CLUSTER_NODES: this.links.map((l) => `127.0.0.1:${l.port}`).join(','),
      REDISPATCH_CLUSTER_NAT_MAP: nodes
        .map((node, i) => `127.0.0.1:${node.port}=127.0.0.1:${this.links[i]?.port}`)
        .join(','),
    };
  }
  get accepted(): number {
    return this.links.reduce((sum, l) => sum + l.accepted, 0);
  }
  get watchedReplies(): number {
    return this.links.reduce((sum, l) => sum + l.watchedReplies, 0);
  }
  setLatency(ms: number): void {
    for (const l of this.links) l.setLatency(ms);
  }
  stall(direction: 'up' | 'both' = 'both'): void {
    for (const l of this.links) l.stall(direction);
  }
  watchReplies(pattern: Buffer): void {
    for (const l of this.links) l.watchReplies(pattern);
  }
  resume(): void {
    for (const l of this.links) l.resume();
  }
  cut(refuseMs: number): void {
    for (const l of this.links) l.cut(refuseMs);
  }
}

describe('fault injection: the data Redis Cluster in streams mode', () => {
  // 4s. One master (serving partitions, not the lease) SIGKILLed and restarted on the same port and
  // directory 1 s later (AOF reload; nodes.conf keeps its identity and slots). Its partitions refuse
  // writes meanwhile: the leader retries the same batch (same tag, so a write whose reply was lost is
  // recognised) while the ingress keeps buffering; blocked XREADGROUP readers on that node reconnect.
  // The publisher resends a PUBLISH that failed or reached no subscriber (it publishes on the node the
  // dispatchers subscribe on), so every numbered message was heard by a dispatcher.
  it('4s. a partition master SIGKILL + restart with AOF appendfsync always: nothing accepted is lost', async () => {
    await FaultCluster.run(
      { name: 's4-aof', redisUrl: cluster.nodes[0]?.url ?? '', clusterSeeds: cluster.seeds },
      async (fleet) => {
        const { lease, partitionNode: victim, onNode } = await roles(fleet);
        const victimPartitions = onNode(victim);
        const count = faultSize(6_000, 4_000);
        const publishing = publishWithRetry({
          url: lease.url,
          channel: fleet.env.REDISPATCH_CHANNEL as string,
          runId: 's4',
          count,
          rate: 1_000,
        });
        await fleet.waitAccepted(faultSize(2_000, 1_500));
        let acceptedAtKill = 0;
        for (let i = 0; i < 20; i++) {
          acceptedAtKill = await acceptedOn(fleet, victimPartitions);
          await sleep(5);
        }
        acceptedAtKill = await acceptedOn(fleet, victimPartitions);
        const killedAt = performance.now();
        victim.signal('SIGKILL');
        await sleep(1_000);
        await victim.restart();
        const restartedAt = performance.now();
        // The reloaded node answers CLUSTERDOWN until it has heard from the others again; the first
        // answer after that is what the AOF held (a leader's retried batch landing first only raises it).
        const fresh = adminConnection(victim.url);
        await fresh.connect();
        let afterReload = -1;
        while (afterReload < 0) {
          afterReload = await Promise.all(victimPartitions.map((p) => fresh.hget(p.totals, 'accepted'))).then(
            (values) => values.reduce((sum, v) => sum + Number(v ?? 0), 0),
            () => -1,
          );
          if (afterReload < 0) await sleep(20);
        }
        fresh.disconnect();
        const flowMs = await grows(() => acceptedOn(fleet, victimPartitions), afterReload, restartedAt);
        await cluster.waitHealthy();
        const published = await publishing;
        const result = await fleet.waitHandled('s4', count);
        const stats = await fleet.waitIdle();
        const inventory = FaultCluster.inventory(stats);
        const workerExits = fleet.allWorkers.filter((w) => w.child.exitCode !== null).length;
        const dispatcherExits = fleet.allDispatchers.filter((d) => d.child.exitCode !== null).length;
        recordFault({
          scenario: '4s. streams: partition master SIGKILL+restart, AOF always',
          lost: result.lost + inventory.missing,
          duplicates: result.duplicates,
          recover: `its partitions accepting again ${seconds(flowMs)} after restart (down ${seconds(restartedAt - killedAt)})`,
          notes:
            `${victimPartitions.length} of 6 partitions on it; accepted there at kill ≥ ${acceptedAtKill}, after AOF reload ${afterReload}; ` +
            `step-downs ${
              fleet
                .stepDowns()
                .map((s) => s.reason)
                .join(',') || 'none'
            }; replayed ${stats.totals.failoverReplayed}; ` +
            `reclaimed ${stats.totals.redelivered}; publisher resent ${published.retries}`,
        });
        expect(afterReload).toBeGreaterThanOrEqual(acceptedAtKill);
        expect(workerExits + dispatcherExits).toBe(0);
        expect(result.lost, `${fleet.missingRanges('s4', count)}\n${fleet.leadershipEvents()}`).toBe(0);
        expect(inventory.missing).toBe(0);
        expect(result.duplicates).toBeLessThanOrEqual(
          stats.totals.failoverReplayed + stats.totals.redelivered + published.retries,
        );
      },
    );
  }, 120_000);

  // 5s. Every dispatcher reaches each master through its own proxy (REDISPATCH_CLUSTER_NAT_MAP maps the
  // addresses the cluster announces to the proxies); the lease lives on the cluster, so it goes through
  // the proxies too. Faults hit all of the current leader's links at once. Workers connect directly.
  it('5s. leader links through TCP proxies: latency, one-way stall past the lease (late writes fenced), cut, stall+drop: 0 lost', async () => {
    const nodes = cluster.nodes;
    const sets = await Promise.all([0, 1, 2].map(() => LinkSet.open(nodes)));
    const options = {
      name: 's5-proxy',
      redisUrl: nodes[0]?.url ?? '',
      clusterSeeds: cluster.seeds,
      dispatcherRedisUrl: (index: number) => (sets[index] as LinkSet).links[0]?.url ?? '',
      dispatcherEnv: (index: number) => (sets[index] as LinkSet).env(nodes),
    };
    await FaultCluster.run(options, async (fleet) => {
      // The dispatchers really go through the proxies (a NAT map that ioredis ignored would bypass them).
      for (const set of sets) expect(set.accepted).toBeGreaterThan(0);
      const count = faultSize(14_000, 10_000);
      const publishing = fleet.publish('s5', count, 1_500);
      const linksOf = (pid: number) => sets[fleet.dispatcherIndex.get(pid) ?? -1] as LinkSet;
      await fleet.waitAccepted(1_500);
      const { phases, fenced } = await runLinkFaults(fleet, linksOf);

      expect((await publishing).code).toBe(0);
      const result = await fleet.waitHandled('s5', count);
      const stats = await fleet.waitIdle();
      const inventory = FaultCluster.inventory(stats);
      recordFault({
        scenario: '5s. streams: TCP proxies on every leader link (lease on the cluster)',
        lost: result.lost + inventory.missing,
        duplicates: result.duplicates,
        recover: phases.join('; '),
        notes: `${count} msgs @1.5k/s; late writes fenced after the stall ${fenced}; step-downs ${fleet
          .stepDowns()
          .map((s) => s.reason)
          .join(',')}; replayed ${stats.totals.failoverReplayed}`,
      });
      expect(fenced).toBeGreaterThan(0);
      expect(result.lost, `${fleet.missingRanges('s5', count)}\n${fleet.leadershipEvents()}`).toBe(0);
      expect(inventory.missing, `${JSON.stringify(stats)}\n${fleet.leadershipEvents()}`).toBe(0);
      const elections = fleet.elections();
      expect(result.duplicates, describeTakeovers(elections)).toBeLessThanOrEqual(
        failoverDuplicateBound(elections),
      );
    });
  }, 120_000);

  // 8s. One master at maxmemory with noeviction: the fenced append script is refused ("OOM command not
  // allowed") on its partitions. On a partition-only master the leader keeps its lease and retries the
  // same batch until the master takes writes again; on the lease master its renewals are refused too, so
  // it steps down and the standbys buffer (and campaign, refused as well) until memory frees.
  it.each([
    ['a partition master', 'partition'],
    ['the lease master', 'lease'],
  ] as const)(
    '8s. %s at maxmemory (noeviction): no crash, flows again, 0 lost',
    async (label, which) => {
      await FaultCluster.run(
        { name: `s8-oom-${which}`, redisUrl: cluster.nodes[0]?.url ?? '', clusterSeeds: cluster.seeds },
        async (fleet) => {
          const { lease, partitionNode } = await roles(fleet);
          const target = which === 'lease' ? lease : partitionNode;
          const runId = `s8${which[0]}`;
          const count = faultSize(6_000, 5_000);
          const publishing = fleet.publish(runId, count, 1_000);
          await fleet.waitAccepted(1_500);
          const before = await fleet.leader();
          const node = adminConnection(target.url);
          await node.connect();
          try {
            await node.config('SET', 'maxmemory-policy', 'noeviction');
            await node.config('SET', 'maxmemory', '1');
            const oomAt = performance.now();
            const acceptedAtOom = await fleet.accepted();
            await sleep(3_000);
            const acceptedDuring = await fleet.accepted();
            const alive = fleet.allDispatchers.filter((p) => p.child.exitCode === null).length;
            await node.config('SET', 'maxmemory', '0');
            const restoredAt = performance.now();
            const flowMs = await grows(() => fleet.accepted(), acceptedDuring, restoredAt);
            expect((await publishing).code).toBe(0);
            const result = await fleet.waitHandled(runId, count);
            const stats = await fleet.waitIdle();
            const inventory = FaultCluster.inventory(stats);
            const refused = logLines(before.proc).filter(
              (l) =>
                typeof l.msg === 'string' &&
                /batch write failed/.test(l.msg) &&
                /OOM/.test(JSON.stringify(l.err)),
            ).length;
            const stepDowns = fleet.stepDowns();
            const workerExits = fleet.allWorkers.filter((w) => w.child.exitCode !== null).length;
            recordFault({
              scenario: `8s. streams: maxmemory 3 s on ${label}`,
              lost: result.lost + inventory.missing,
              duplicates: result.duplicates,
              recover: `accepting again ${seconds(flowMs)} after maxmemory 0`,
              notes:
                `accepted during OOM ${acceptedDuring - acceptedAtOom}; leader batch retries on OOM ${refused}; ` +
                `step-downs ${stepDowns.map((s) => s.reason).join(',') || 'none'}; replayed ${stats.totals.failoverReplayed}; ` +
                `reclaimed ${stats.totals.redelivered}; OOM ${seconds(restoredAt - oomAt)}`,
            });
            expect(alive).toBe(3);
            expect(workerExits).toBe(0);
            expect(result.lost, `${fleet.missingRanges(runId, count)}\n${fleet.leadershipEvents()}`).toBe(0);
            expect(inventory.missing).toBe(0);
            expect(result.duplicates).toBeLessThanOrEqual(
              stats.totals.failoverReplayed + stats.totals.redelivered,
            );
            if (which === 'partition') {
              // The lease master kept taking renewals: same leader, its batch retried until the node took it.
              expect(refused).toBeGreaterThan(0);
              expect(stepDowns.length).toBe(0);
            }
          } finally {
            await node.config('SET', 'maxmemory', '0').catch(() => {});
            node.disconnect();
          }
        },
      );
    },
    120_000,
  );
});
