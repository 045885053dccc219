import { calculateSlot, createConnection, createKeys, loadPartitions } from '@redispatch/shared';
import type { ClusterNodeHandle } from '@redispatch/testing';
import { expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, runCli } from './helpers/cli-process.js';
import { sleep } from './helpers/fault-cluster.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

// docs/guarantees.md 10: with REDISPATCH_WAIT_REPLICAS, a partition whose master has lost every replica
// stops accepting until a replica is back — the batch is retried, nothing is dropped. The fault is
// real: the only replica of one partition's master is frozen (SIGSTOP), so WAIT gets no acknowledgement.
const fx = useProcessFixture({ cluster: { masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 5_000 } });

async function replicaOf(master: ClusterNodeHandle): Promise<ClusterNodeHandle> {
  for (const node of fx.cluster.nodes) {
    const client = createConnection('command', {
      url: node.url,
      tls: { insecure: false },
      commandTimeoutMs: 2_000,
      name: 'role',
    });
    try {
      await client.connect();
      const role = (await client.call('ROLE')) as [string, string, number];
      if (role[0] === 'slave' && Number(role[2]) === master.port) return node;
    } finally {
      client.disconnect();
    }
  }
  throw new Error(`no replica of ${master.port}`);
}

it('stalls a partition whose master lost its only replica, retries the batch, and drops nothing once the replica is back', async () => {
  const prefix = uniquePrefix('wait-none');
  const dir = fx.tempDir('wait-none');
  const first = fx.cluster.nodes[0];
  const env = {
    ...testEnv(`redis://${first?.host}:${first?.port}`, prefix),
    REDISPATCH_MODE: 'streams',
    REDISPATCH_CLUSTER_NODES: fx.cluster.seeds,
    REDISPATCH_WAIT_REPLICAS: '1',
    REDISPATCH_WAIT_TIMEOUT_MS: '300',
    REDISPATCH_LEASE_MS: '3000',
    REDISPATCH_STANDBY_BUFFER_AGE_MS: '60000',
    CHECK_DIR: dir,
  };
  const dispatcher = fx.spawn(['dispatcher'], env);
  fx.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env);
  await dispatcher.waitForLog(/"msg":"elected leader"/, 20_000);
  await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(1);
  const keys = createKeys(prefix);
  const partitions = await loadPartitions(fx.clusterAdmin, keys, prefix, 6);
  // A partition on a master other than the one every dispatcher subscribes through (and the lease's).
  const pinned = await fx.cluster.ownerOf(calculateSlot(keys.epoch));
  let victim: ClusterNodeHandle | undefined;
  for (const p of partitions) {
    const owner = await fx.cluster.ownerOf(calculateSlot(p.stream));
    if (owner.port !== pinned.port) {
      victim = owner;
      break;
    }
  }
  if (!victim) throw new Error('every partition is on the pinned master');
  const replica = await replicaOf(victim);
  const { REDISPATCH_CLUSTER_NODES: _nodes, ...publishEnv } = env;
  const publishVia = { ...publishEnv, REDISPATCH_MODE: 'lists', REDISPATCH_REDIS_URL: pinned.url };

  replica.signal('SIGSTOP');
  let frozen = true;
  try {
    const count = 600;
    const published = await runCli(
      ['publish', '--count', String(count), '--rate', '300', '--run-id', 'wn'],
      publishVia,
    );
    expect(published.code).toBe(0);
    // Round-robin batches reach the victim's partitions: the write is retried and everything behind it waits.
    await dispatcher.waitForLog(/"msg":"batch write failed; retrying the same batch"/, 20_000);
    await sleep(3_000);
    const stalled = checkRun(dir, 'wn', count);
    expect(stalled.handled).toBeLessThan(count);
    expect(dispatcher.output()).toMatch(/ReplicaWaitError|acknowledged/);
    replica.signal('SIGCONT');
    frozen = false;
    await expect.poll(() => checkRun(dir, 'wn', count).lost, { timeout: 30_000, interval: 250 }).toBe(0);
    const result = checkRun(dir, 'wn', count);
    console.info(
      `WAIT 1 with the only replica frozen: ${stalled.handled} of ${count} handled during the stall; ` +
        `after SIGCONT lost ${result.lost}, duplicates ${result.duplicates}`,
    );
    expect(result.duplicates).toBe(0);
  } finally {
    if (frozen) replica.signal('SIGCONT');
  }
}, 120_000);
