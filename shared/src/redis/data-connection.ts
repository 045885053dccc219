import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import { endpointToOptions, parseRedisUrl, type TlsSettings } from '../config/redis-url.js';
import { type ConnectionRole, createConnection, roleOptions } from './connection.js';
import { defineScripts } from './scripts.js';

/** A data-store client: one Redis (lists mode, or streams mode for development) or a Redis Cluster. */
export type DataClient = Redis | Cluster;

export interface DataConnectionSettings {
  /** REDISPATCH_REDIS_URL: the single Redis, and the source of credentials and TLS for cluster seeds. */
  url: string;
  /** REDISPATCH_CLUSTER_NODES; empty or undefined means the single Redis at `url`. */
  clusterNodes?: readonly string[] | undefined;
  /** REDISPATCH_CLUSTER_NAT_MAP: announced node address -> the address to connect to. */
  clusterNatMap?: Readonly<Record<string, { host: string; port: number }>> | undefined;
  tls: TlsSettings;
  commandTimeoutMs: number;
  name: string;
}

export function isCluster(client: DataClient): client is Cluster {
  return client instanceof Cluster;
}

/** The setting a connection failure should name. */
export function dataSetting(settings: Pick<DataConnectionSettings, 'clusterNodes'>): string {
  return settings.clusterNodes && settings.clusterNodes.length > 0
    ? 'REDISPATCH_CLUSTER_NODES'
    : 'REDISPATCH_REDIS_URL';
}

/** A printable form of where the client connects, without credentials. */
export function dataTarget(settings: Pick<DataConnectionSettings, 'clusterNodes' | 'url'>): string {
  if (!settings.clusterNodes || settings.clusterNodes.length === 0) return settings.url;
  return settings.clusterNodes.map((node) => node.replace(/\/\/[^@/]*@/, '//')).join(',');
}

/**
 * Creates a client for one role against the data store. On a cluster, every role gets its own
 * `Cluster` instance: ioredis keeps one connection per node inside an instance, so a blocking
 * XREADGROUP on a shared instance would stall every other command to that node.
 */
export function createDataConnection(role: ConnectionRole, settings: DataConnectionSettings): DataClient {
  if (!settings.clusterNodes || settings.clusterNodes.length === 0) return createConnection(role, settings);
  const base = parseRedisUrl(settings.url);
  const seeds = settings.clusterNodes.map((node) => {
    if (/^rediss?:\/\//.test(node)) {
      const endpoint = parseRedisUrl(node);
      return { host: endpoint.host, port: endpoint.port, endpoint };
    }
    const split = node.lastIndexOf(':');
    return {
      host: node.slice(0, split).replace(/^\[(.*)\]$/, '$1'),
      port: Number(node.slice(split + 1)),
      endpoint: undefined,
    };
  });
  // Credentials and TLS: from the first seed written as a URL, else from REDISPATCH_REDIS_URL.
  const auth = seeds.find((seed) => seed.endpoint)?.endpoint ?? base;
  const { host: _host, port: _port, db: _db, ...nodeOptions } = endpointToOptions(auth, settings.tls);
  const {
    lazyConnect: _lazy,
    retryStrategy: _retry,
    ...perNode
  } = roleOptions(role, settings.commandTimeoutMs);
  const options: ClusterOptions = {
    lazyConnect: true,
    // Request-path roles fail fast while the cluster re-maps after a failover; their callers retry.
    enableOfflineQueue: role === 'subscriber',
    maxRedirections: 16,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: Math.max(1_000, settings.commandTimeoutMs),
    clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
    ...(settings.clusterNatMap ? { natMap: { ...settings.clusterNatMap } } : {}),
    redisOptions: { ...nodeOptions, ...perNode, connectionName: settings.name },
  };
  const client = new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    options,
  );
  client.on('error', () => {});
  defineScripts(client);
  return client;
}

/**
 * WAIT for `replicas` replicas to acknowledge every write this client made to the master serving
 * `key`. WAIT has no key, so on a cluster it must be sent on that master's own connection — the
 * same connection the write went out on, which is what WAIT counts.
 */
export async function waitForReplicas(
  client: DataClient,
  key: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  if (!isCluster(client)) return client.wait(replicas, timeoutMs);
  const owner = client.slots[calculateSlot(key)]?.[0];
  const node = client
    .nodes('master')
    .find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner);
  if (!node) throw new Error(`no connection to the master serving ${key} (slot map refreshing)`);
  return node.wait(replicas, timeoutMs);
}

/** The `host:port` of the master serving `key`, or '' for a single Redis or an unknown slot. */
export function masterOf(client: DataClient, key: string): string {
  if (!isCluster(client)) return '';
  return client.slots[calculateSlot(key)]?.[0] ?? '';
}

/**
 * Where a PUBLISH for a deployment must go: on a cluster, the master serving the deployment's own
 * slot (`key`: its epoch key), which is where every dispatcher subscribes. A PUBLISH sent to any
 * other node reaches them only over the cluster bus, which drops what it carries when a bus link
 * is reset (a node slow to answer pings on a busy host); published on the subscription node it is
 * delivered locally. Falls back to the client itself (any node) while the slot map is unknown.
 */
export function publishingNode(client: DataClient, key: string): DataClient {
  if (!isCluster(client)) return client;
  const owner = masterOf(client, key);
  const node = client
    .nodes('master')
    .find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner);
  return node ?? client;
}

export { calculateSlot };
