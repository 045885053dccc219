import { Redis } from 'ioredis';
import { ConfigError } from '../errors.js';
import { type DataClient, isCluster } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';
import type { PartitionKeys } from '../streams/partition-keys.js';
import { loadPartitions, partitionCountError } from '../streams/partition-table.js';
import {
  DEPLOYMENT_FORMAT,
  type DeploymentMode,
  type DeploymentReading,
  readDeployment,
  writeDeploymentStamp,
} from './deployment-stamp.js';

export interface JoinDeploymentOptions {
  prefix: string;
  /** REDISPATCH_MODE of this process. */
  mode: DeploymentMode;
  /** REDISPATCH_PARTITIONS of this process (streams mode). */
  partitions: number;
  /**
   * Dispatchers and workers stamp a deployment they find unstamped (they are what makes one);
   * relays and admin commands only check.
   */
  stamp: boolean;
  /** Streams mode: load (and on first start write) the partition table; false for roles without partition keys. */
  loadPartitions: boolean;
  /** Streams mode: refuse a prefix another deployment's keys would share (the dispatcher). */
  refuseCollisions?: boolean;
}

/**
 * Guarantee 8, one deployment, one shape: checks that the deployment under `prefix` is of this
 * process's mode, partition count and format before the process writes anything, stamps a new (or
 * an earlier version's unstamped) deployment, and returns the partitions in streams mode. A process
 * of another shape gets a ConfigError naming REDISPATCH_MODE (or _PARTITIONS) and the deployment's.
 */
export async function joinDeployment(
  client: DataClient,
  keys: Keys,
  options: JoinDeploymentOptions,
): Promise<PartitionKeys[]> {
  const reading = await readOrFollow(client, keys, options);
  if (reading) assertSameShape(reading, options);
  const partitions =
    options.mode === 'streams' && options.loadPartitions
      ? await loadPartitions(client, keys, options.prefix, options.partitions, {
          refuseCollisions: options.refuseCollisions ?? false,
        })
      : [];
  if (options.stamp && reading?.state !== 'stamped') {
    const stamp = await orNoPerm(
      writeDeploymentStamp(client, keys, { mode: options.mode, partitions: options.partitions }),
    );
    // Another process of another shape may have stamped first (both found the prefix empty).
    if (stamp) assertSameShape({ state: 'stamped', stamp }, options);
  }
  return partitions;
}

function assertSameShape(reading: DeploymentReading, options: JoinDeploymentOptions): void {
  if (reading.state === 'empty') return;
  const { prefix } = options;
  const mode = reading.state === 'stamped' ? reading.stamp.mode : reading.mode;
  const since =
    reading.state === 'stamped'
      ? `stamped ${new Date(reading.stamp.stampedAt).toISOString()}`
      : `not stamped yet; its keys are ${mode} mode's`;
  if (mode !== options.mode) {
    throw new ConfigError([
      `REDISPATCH_MODE=${options.mode}, but prefix "${prefix}" is a ${mode} deployment (${since}); use REDISPATCH_MODE=${mode} or another REDISPATCH_PREFIX`,
    ]);
  }
  if (reading.state !== 'stamped') return;
  const { stamp } = reading;
  if (stamp.format !== DEPLOYMENT_FORMAT) {
    throw new ConfigError([
      `prefix "${prefix}" is a deployment of format ${stamp.format} (${since}) and this redispatch uses format ${DEPLOYMENT_FORMAT}; run the version that created it, or use another REDISPATCH_PREFIX`,
    ]);
  }
  if (mode === 'streams' && stamp.partitions > 0 && stamp.partitions !== options.partitions)
    throw partitionCountError(prefix, options.partitions, stamp.partitions);
}

/**
 * Reads the deployment's shape. A Redis user whose ACL predates the stamp (NOPERM) is not refused
 * for it: the check is skipped (undefined). A single-Redis client pointed at a Redis Cluster node
 * that does not serve the prefix's slot gets MOVED: the stamp is read where it lives, so a lists
 * process aimed at a streams deployment's cluster is told so; otherwise it is refused for the node.
 */
async function readOrFollow(
  client: DataClient,
  keys: Keys,
  options: JoinDeploymentOptions,
): Promise<DeploymentReading | undefined> {
  try {
    return await readDeployment(client, keys);
  } catch (error) {
    const message = (error as Error).message;
    if (/NOPERM/.test(message)) return undefined;
    const moved = /^MOVED \d+ (\S+):(\d+)/.exec(message);
    if (!moved || isCluster(client)) throw error;
    const [, host = '', port = '0'] = moved;
    const node = new Redis({
      ...client.options,
      host,
      port: Number(port),
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    node.on('error', () => {});
    try {
      await node.connect();
      assertSameShape(await readDeployment(node, keys), options);
    } finally {
      node.disconnect();
    }
    throw new ConfigError([
      `REDISPATCH_REDIS_URL: ${client.options.host}:${client.options.port} is a Redis Cluster node and prefix "${options.prefix}" lives on ${host}:${port}; lists mode keeps a deployment on one Redis (a Redis Cluster takes REDISPATCH_MODE=streams with REDISPATCH_CLUSTER_NODES)`,
    ]);
  }
}

async function orNoPerm<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    // A least-privilege user that may not stamp leaves it to one that may (the dispatcher).
    if (/NOPERM/.test((error as Error).message)) return undefined;
    throw error;
  }
}
