import {
  type Config,
  createDataConnection,
  createKeys,
  type DataClient,
  type DeadLetter,
  isCluster,
  loadPartitions,
  type Stats,
} from '@redispatch/shared';
import {
  type RedisClusterHandle,
  type RedisHandle,
  startRedis,
  startRedisCluster,
} from '@redispatch/testing';
import { afterAll, beforeAll } from 'vitest';
import { deadLetterOps } from '../../src/cli/command-dlq.js';
import { statsFor } from '../../src/cli/command-stats.js';
import { testConfig, testEnv } from './in-process.js';

export type Mode = 'lists' | 'streams';

/**
 * One routing mode's real backing store for a test file — a redis-server (lists) or a 3-master
 * Redis Cluster (streams) — and the mode-aware reads the shared behaviour cases assert on.
 */
export interface ModeBackend {
  readonly mode: Mode;
  readonly admin: DataClient;
  readonly redisUrl: string;
  /** Streams mode only. */
  readonly cluster: RedisClusterHandle | undefined;
  env(prefix: string, extra?: Record<string, string>): Record<string, string>;
  config(prefix: string, extra?: Record<string, string>): Config;
  stats(config: Config): Promise<Stats>;
  deadLetters(config: Config, limit?: number): Promise<DeadLetter[]>;
  replayDeadLetters(config: Config, ids: string[] | 'all'): Promise<number>;
  purgeDeadLetters(config: Config): Promise<number>;
  /** Subscribers of a pub/sub channel, summed over every node of a cluster. */
  subscribers(channel: string): Promise<number>;
  /** Raises every fence past the running leader's epoch, as a newer leader would. */
  supersede(config: Config): Promise<void>;
  /** Messages held in the mode's routing structures (lists: stored bodies; streams: stream entries). */
  stored(config: Config): Promise<number>;
}

export function useModeBackend(mode: Mode): ModeBackend {
  let server: RedisHandle | undefined;
  let cluster: RedisClusterHandle | undefined;
  let admin: DataClient | undefined;
  const modeEnv = (): Record<string, string> =>
    mode === 'streams'
      ? {
          REDISPATCH_MODE: 'streams',
          REDISPATCH_CLUSTER_NODES: cluster?.seeds ?? '',
          REDISPATCH_PARTITIONS: '6',
        }
      : {};
  const scope = async (config: Config) => {
    const keys = createKeys(config.prefix);
    const client = admin as DataClient;
    const partitions =
      mode === 'streams' ? await loadPartitions(client, keys, config.prefix, config.partitions) : [];
    return { client, keys, partitions };
  };

  beforeAll(async () => {
    if (mode === 'streams') cluster = await startRedisCluster({ masters: 3 });
    else server = await startRedis();
    const url = server?.url ?? `redis://${cluster?.nodes[0]?.host}:${cluster?.nodes[0]?.port}`;
    admin = createDataConnection('command', {
      url,
      clusterNodes: mode === 'streams' ? cluster?.seeds.split(',') : undefined,
      tls: { insecure: false },
      commandTimeoutMs: 5_000,
      name: 'admin',
    });
    await admin.connect();
  }, 60_000);
  afterAll(async () => {
    admin?.disconnect();
    await Promise.all([server?.stop(), cluster?.stop()]);
  });

  const backend: ModeBackend = {
    mode,
    get admin() {
      return admin as DataClient;
    },
    get redisUrl() {
      return server?.url ?? `redis://${cluster?.nodes[0]?.host}:${cluster?.nodes[0]?.port}`;
    },
    get cluster() {
      return cluster;
    },
    env: (prefix, extra = {}) => testEnv(backend.redisUrl, prefix, { ...modeEnv(), ...extra }),
    config: (prefix, extra = {}) => testConfig(backend.redisUrl, prefix, { ...modeEnv(), ...extra }),
    stats: async (config) => statsFor(config, await scope(config)),
    deadLetters: async (config, limit = 1_000) => deadLetterOps(config, await scope(config)).list(limit),
    replayDeadLetters: async (config, ids) => deadLetterOps(config, await scope(config)).replay(ids),
    purgeDeadLetters: async (config) => deadLetterOps(config, await scope(config)).purge(),
    async subscribers(channel) {
      const client = admin as DataClient;
      const nodes = isCluster(client) ? client.nodes('all') : [client];
      const counts = await Promise.all(
        nodes.map(async (node) => Number(((await node.pubsub('NUMSUB', channel)) as [string, number])[1])),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
    async supersede(config) {
      const { client, keys, partitions } = await scope(config);
      const epoch = await client.incr(keys.epoch);
      await Promise.all(partitions.map((p) => client.set(p.fence, epoch + 1)));
    },
    async stored(config) {
      const { client, keys, partitions } = await scope(config);
      if (mode === 'lists') return client.hlen(keys.body);
      const lengths = await Promise.all(partitions.map((p) => client.xlen(p.stream)));
      return lengths.reduce((a, b) => a + b, 0);
    },
  };
  return backend;
}
