import { calculateSlot, createKeys } from '@redispatch/shared';
import { type RedisClusterHandle, startRedisCluster } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// A process of the wrong mode may be pointed at the same servers: a lists worker whose
// REDISPATCH_REDIS_URL names one node of a streams deployment's Redis Cluster reads the stamp where
// it lives (following MOVED when that node does not serve the prefix's slot) and is refused.
let cluster: RedisClusterHandle;
const processes: CliProcess[] = [];
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await cluster?.stop();
});

describe('one deployment, one mode, on a Redis Cluster', () => {
  it('refuses a lists worker pointed at any node of a streams deployment, writing nothing', async () => {
    const prefix = uniquePrefix('stamp-c');
    const env = testEnv(`redis://${cluster.seeds.split(',')[0]}`, prefix, {
      REDISPATCH_MODE: 'streams',
      REDISPATCH_CLUSTER_NODES: cluster.seeds,
      REDISPATCH_PARTITIONS: '3',
    });
    const dispatcher = spawnCli(['dispatcher'], env);
    processes.push(dispatcher);
    await dispatcher.waitForLog(/"msg":"elected leader"/);

    const owner = await cluster.ownerOf(calculateSlot(createKeys(prefix).deployment));
    for (const node of cluster.nodes) {
      const lists = {
        ...env,
        REDISPATCH_MODE: 'lists',
        REDISPATCH_CLUSTER_NODES: '',
        REDISPATCH_REDIS_URL: `redis://127.0.0.1:${node.port}`,
      };
      const refused = await runCli(['worker', '--handler', CHECKER_HANDLER], lists);
      const where = node.port === owner.port ? 'the owner' : 'another node';
      expect(refused.code, `${where}: ${refused.output}`).toBe(2);
      expect(
        refused.lines.filter((line) => line.startsWith('redispatch: ')),
        where,
      ).toEqual([
        expect.stringMatching(
          new RegExp(
            `^redispatch: REDISPATCH_MODE=lists, but prefix "${prefix}" is a streams deployment \\(stamped [^)]+\\); use REDISPATCH_MODE=streams or another REDISPATCH_PREFIX$`,
          ),
        ),
      ]);
    }
    // No lists worker registered in the deployment's registry.
    const stats = await runCli(['stats', '--json'], env);
    expect(stats.code, stats.output).toBe(0);
    expect(JSON.parse(stats.output).workers).toEqual([]);
  });
});
