import type { Stats } from '@redispatch/shared';
import { expect, it } from 'vitest';
import { runCli } from './helpers/cli-process.js';
import { runFrozenStop } from './helpers/frozen-stop.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

// Issue 22 item 1 in streams mode: every master of the cluster frozen (SIGSTOP) while the leader and
// a worker are told to stop; both end within the drain timeout + 2 s, and once the cluster is back
// nothing is lost. The node timeout is far above the freeze, so thawing is not a failover.
const fx = useProcessFixture({ cluster: { masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 20_000 } });

it('streams mode: after SIGTERM with every cluster node frozen, nothing is lost once they are back', async () => {
  const prefix = uniquePrefix('stop-noloss-streams');
  const first = fx.cluster.nodes[0];
  const env = {
    ...testEnv(`redis://${first?.host}:${first?.port}`, prefix),
    REDISPATCH_MODE: 'streams',
    REDISPATCH_CLUSTER_NODES: fx.cluster.seeds,
    REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
    REDISPATCH_LEASE_MS: '2000',
    CHECK_DIR: fx.tempDir('stop-noloss-streams'),
    CHECK_DELAY_MS: '20',
  };
  await runFrozenStop({
    env,
    spawn: (args, e) => fx.spawn(args, e),
    freeze: () => {
      for (const node of fx.cluster.nodes) node.signal('SIGSTOP');
    },
    thaw: () => {
      for (const node of fx.cluster.nodes) node.signal('SIGCONT');
    },
    ready: async (_dispatchers, workers) => {
      await Promise.all(workers.map((w) => w.waitForLog(/worker registered/, 30_000)));
      await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(3);
      await expect
        .poll(
          async () => {
            const stats = await runCli(['stats', '--json'], env);
            return stats.code === 0 ? (JSON.parse(stats.output) as Stats).workers.length : -1;
          },
          { timeout: 15_000 },
        )
        .toBe(2);
    },
    drainMs: 1_000,
    count: 12_000,
    label: 'stop-noloss-streams',
  });
}, 240_000);
