import { calculateSlot, createConnection, createKeys, type Stats } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, runCli } from './helpers/cli-process.js';
import { publishWithRetry } from './helpers/fault-cluster.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

// The failover of the subscription node: every dispatcher subscribes on the master serving the
// deployment's own slot (docs/streams.md, "One subscription node"). SIGKILL that master under a steady
// publish: the dispatchers must follow the slot to the promoted replica, and everything published
// after they are subscribed again must be handled. What was published while no dispatcher was
// subscribed is pub/sub's at-most-once window: measured and printed, not asserted.
const fx = useProcessFixture({ cluster: { masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 } });

/** PUBSUB NUMSUB on one node only (fx.subscribers sums every node, replicas included). */
async function subscribersOn(url: string, channel: string): Promise<number> {
  const client = createConnection('command', {
    url,
    tls: { insecure: false },
    commandTimeoutMs: 2_000,
    name: 'admin-numsub',
  });
  try {
    await client.connect();
    return Number(((await client.pubsub('NUMSUB', channel)) as [string, number])[1]);
  } catch {
    return -1;
  } finally {
    client.disconnect();
  }
}

async function statsJson(env: Record<string, string>): Promise<Stats> {
  const result = await runCli(['stats', '--json'], env);
  if (result.code !== 0) throw new Error(result.output);
  return JSON.parse(result.output) as Stats;
}

/** Waits until every message of the run is in, or the count holds still with nothing left in flight. */
async function settle(env: Record<string, string>, dir: string, runId: string, count: number) {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 60 && still < 4; i++) {
    const handled = checkRun(dir, runId, count).handled;
    if (handled === count) break;
    const stats = await statsJson(env).catch(() => undefined);
    const idle = stats !== undefined && stats.inflight + stats.backlog + stats.delayed === 0;
    still = handled === last && idle ? still + 1 : 0;
    last = handled;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return checkRun(dir, runId, count);
}

describe('streams mode: the subscription node fails over (3 masters + 3 replicas)', () => {
  it('dispatchers resubscribe on the promoted replica, lose nothing published after, no process exits', async () => {
    const name = 'subfail';
    const prefix = uniquePrefix(name);
    const dir = fx.tempDir(name);
    const first = fx.cluster.nodes[0];
    const env = {
      ...testEnv(`redis://${first?.host}:${first?.port}`, prefix),
      REDISPATCH_MODE: 'streams',
      REDISPATCH_CLUSTER_NODES: fx.cluster.seeds,
      // Replication losses are not what this test measures: only the unsubscribed window may lose.
      REDISPATCH_WAIT_REPLICAS: '1',
      REDISPATCH_WAIT_TIMEOUT_MS: '500',
      // The lease lives on the killed master too; give a failover (node timeout 1 s) room.
      REDISPATCH_LEASE_MS: '3000',
      REDISPATCH_STANDBY_BUFFER_AGE_MS: '30000',
      CHECK_DIR: dir,
    };
    const channel = env.REDISPATCH_CHANNEL as string;
    const processes = [
      ...[0, 1, 2].map(() => fx.spawn(['dispatcher'], env)),
      ...[0, 1].map(() => fx.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env)),
    ];
    await expect.poll(() => fx.subscribers(channel), { timeout: 15_000 }).toBe(3);

    const slot = calculateSlot(createKeys(prefix).epoch);
    const pinned = await fx.cluster.ownerOf(slot);
    expect(await subscribersOn(pinned.url, channel)).toBe(3);

    // Run 1, steady through a master that survives: a PUBLISH sent to the dying node itself is lost
    // with it; through another node it reaches the pinned one over the cluster bus.
    const survivor = (await fx.cluster.masters()).find((m) => m.node.port !== pinned.port)?.node;
    const windowCount = 6_000;
    const { REDISPATCH_CLUSTER_NODES: _nodes, ...publishEnv } = env;
    const windowRun = runCli(
      ['publish', '--count', String(windowCount), '--rate', '1000', '--run-id', 'window'],
      { ...publishEnv, REDISPATCH_MODE: 'lists', REDISPATCH_REDIS_URL: survivor?.url ?? '' },
      60_000,
    );
    await expect
      .poll(() => checkRun(dir, 'window', windowCount).handled, { timeout: 10_000 })
      .toBeGreaterThan(1_000);

    const killedAt = performance.now();
    pinned.signal('SIGKILL');
    await expect
      .poll(async () => (await fx.cluster.ownerOf(slot)).port, { timeout: 20_000, interval: 100 })
      .not.toBe(pinned.port);
    const promotedMs = performance.now() - killedAt;
    const owner = await fx.cluster.ownerOf(slot);

    // (1) Every dispatcher is subscribed again, on the new owner of the slot (the killed node is still
    // down, so no reconnect to the old address can count here).
    await expect.poll(() => subscribersOn(owner.url, channel), { timeout: 20_000, interval: 100 }).toBe(3);
    await expect.poll(() => fx.subscribers(channel), { timeout: 5_000 }).toBe(3);
    const resubscribedMs = performance.now() - killedAt;
    // The killed node comes back as the promoted one's replica: with REDISPATCH_WAIT_REPLICAS=1 the
    // partitions on that master accept writes again only once it has a replica.
    await pinned.restart();
    await fx.cluster.waitHealthy(30_000);

    // (2) Run 2, after the resubscription, on the new owner: a PUBLISH that reached no subscriber is
    // sent again, so every message of this run must be handled.
    const afterCount = 2_000;
    const after = await publishWithRetry({
      url: owner.url,
      channel,
      runId: 'after',
      count: afterCount,
      rate: 1_000,
    });
    expect((await windowRun).code).toBe(0);
    const afterResult = await settle(env, dir, 'after', afterCount);
    const windowResult = await settle(env, dir, 'window', windowCount);
    const alive = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).length;

    // (3) The window, measured: pub/sub is at-most-once while no dispatcher is subscribed.
    console.info(
      `subscription node failover: replica promoted ${(promotedMs / 1000).toFixed(1)} s after SIGKILL, ` +
        `3 dispatchers resubscribed on it ${(resubscribedMs / 1000).toFixed(1)} s after; ` +
        `published during the window: lost ${windowResult.lost} of ${windowCount} ` +
        `(duplicates ${windowResult.duplicates}); after: lost ${afterResult.lost} of ${afterCount} ` +
        `(${after.retries} PUBLISH resent); ${alive}/${processes.length} processes alive`,
    );
    if (afterResult.lost > 0 && process.env.FAILOVER_DEBUG)
      for (const p of processes) console.info(p.output().split('\n').slice(-40).join('\n'));
    expect(afterResult.lost).toBe(0);
    // (4) No dispatcher or worker exits.
    expect(alive).toBe(processes.length);
    // The budget covers its phases' own limits (window 6 s, promotion ≤ 20 s, resubscription ≤ 25 s,
    // the old master back and the cluster healthy ≤ 30 s, run 2 and the settles), which 90 s did not.
  }, 180_000);
});
