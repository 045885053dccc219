import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { ListenedConnector } from '../redis/listened-connector.js';
import { freePort, portIsFree } from './free-port.js';
import { type RedisProcess, startRedisProcess } from './redis-server.js';

/** One node of a local cluster: a redis-server process plus what the cluster says about it. */
export interface ClusterNode extends RedisProcess {
  /** The node's 40-character cluster id (stable across restarts: nodes.conf is kept). */
  readonly nodeId: string;
}

/** A Redis Cluster of local redis-server processes (`up --mode streams`, and the test harness). */
export interface RedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, the REDISPATCH_CLUSTER_NODES form. */
  readonly seeds: string;
  /** With `tls`: the nodes' TLS ports in the same form (a TLS client is told TLS ports by CLUSTER SLOTS). */
  readonly tlsSeeds: string;
  /** Polls every live node until each reports `cluster_state:ok` and agrees on the slot owners. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a master may be silent before its replica is promoted. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /**
   * The user the harness itself connects as (cluster create, health checks, slot moves), for nodes
   * started with an ACL file that turns the default user off. The cluster bus needs none; replicas
   * do (they connect to their master as clients): pass `--masteruser`/`--masterauth` in `args`.
   */
  auth?: NodeAuth;
  /**
   * Also serve TLS on a second port per node, and run the cluster bus over TLS (`tls-cluster yes`).
   * Plain ports stay open for the harness; Redis answers CLUSTER SLOTS with TLS ports on a TLS
   * connection and plain ports on a plain one, so both kinds of client follow the topology.
   */
  tls?: ClusterTls;
}

export interface ClusterTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /**
   * What a node presents when it connects to another node's bus (peers verify it); a certificate
   * limited to serverAuth is refused there, so pass one made for clientAuth.
   */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface NodeAuth {
  username: string;
  password: string;
}

function runCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`redis-cli could not start (${error.message}); install redis-tools`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else
        reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} exited ${code}:\n${output.slice(-2000)}`));
    });
  });
}

/** One short-lived connection to one node (no retries, no offline queue): for cluster admin commands. */
export async function withNode<T>(
  node: RedisProcess,
  use: (client: Redis) => Promise<T>,
  auth?: NodeAuth,
): Promise<T> {
  const client = new Redis({
    Connector: ListenedConnector,
    host: node.host,
    port: node.port,
    ...(auth ?? {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1_000,
    commandTimeout: 3_000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

export type SlotsReply = [number, number, [string, number, string], ...[string, number, string][]][];

/**
 * Starts a real Redis Cluster on free loopback ports: `masters` redis-server processes (plus
 * `replicasPerMaster` replicas each) joined with `redis-cli --cluster create`. Each node keeps its
 * nodes.conf in its own directory, so `restart()` brings it back with the same identity.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodeTimeout = options.nodeTimeoutMs ?? 2_000;
  const auth = options.auth;
  const withAuth = <T>(node: RedisProcess, use: (client: Redis) => Promise<T>) => withNode(node, use, auth);
  const total = masters * (1 + replicas);
  const tls = options.tls;
  /** Every port picked so far and its bus port: none may be picked again, as either. */
  const taken = new Set<number>();
  const pickPort = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      const bus = port + 10_000;
      // Cluster nodes also listen on port + 10000 (the bus): keep both free and distinct from every
      // other node's pair (a bus port taken by another process fails the node's start or, worse, meets
      // the wrong peer).
      if (bus < 65_536 && !taken.has(port) && !taken.has(bus) && (await portIsFree(bus))) {
        taken.add(port);
        taken.add(bus);
        return port;
      }
    }
  };
  const ports: number[] = [];
  while (ports.length < total) ports.push(await pickPort());
  const tlsPorts: number[] = [];
  while (tls && tlsPorts.length < total) tlsPorts.push(await pickPort());
  // With tls-cluster the bus listens on tls-port + 10000 and the nodes meet on their TLS ports.
  const tlsArgs = (i: number): string[] =>
    tls
      ? [
          '--tls-port',
          String(tlsPorts[i]),
          '--tls-cert-file',
          tls.certFile,
          '--tls-key-file',
          tls.keyFile,
          '--tls-ca-cert-file',
          tls.caFile,
          ...(tls.clientCertFile && tls.clientKeyFile
            ? ['--tls-client-cert-file', tls.clientCertFile, '--tls-client-key-file', tls.clientKeyFile]
            : []),
          '--tls-auth-clients',
          'no',
          '--tls-cluster',
          'yes',
          '--tls-replication',
          'yes',
        ]
      : [];
  const servers = await Promise.all(
    ports.map((port, i) =>
      startRedisProcess({
        port,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(nodeTimeout),
          // A replica must take over even if it lagged a little; tests measure what that loses.
          '--cluster-replica-validity-factor',
          '0',
          ...tlsArgs(i),
          ...(options.args ?? []),
        ],
      }),
    ),
  );
  try {
    await runCli(
      [
        '--cluster',
        'create',
        ...(tls ? tlsPorts : ports).map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
        ...(auth ? ['--user', auth.username, '--pass', auth.password, '--no-auth-warning'] : []),
        ...(tls ? ['--tls', '--cacert', tls.caFile] : []),
      ],
      60_000,
    );
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  const ids = await Promise.all(
    servers.map((server) => withAuth(server, (client) => client.call('CLUSTER', 'MYID') as Promise<string>)),
  );
  // The handles' methods are closures over their own process, so a spread keeps them working.
  const nodes: ClusterNode[] = servers.map((server, i) => ({ ...server, nodeId: ids[i] ?? '' }));

  const handle: RedisCluster = {
    nodes,
    seeds: ports.map((port) => `127.0.0.1:${port}`).join(','),
    tlsSeeds: tlsPorts.map((port) => `127.0.0.1:${port}`).join(','),
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < deadline) {
        try {
          const views = await Promise.all(
            nodes.map((node) =>
              withAuth(node, async (client) => {
                const info = (await client.call('CLUSTER', 'INFO')) as string;
                const slots = (await client.call('CLUSTER', 'SLOTS')) as SlotsReply;
                return {
                  ok: info.includes('cluster_state:ok'),
                  slots: JSON.stringify(slots.map((s) => [s[0], s[1], s[2][1]])),
                };
              }).catch(() => undefined),
            ),
          );
          const live = views.filter((view) => view !== undefined);
          if (
            live.length > 0 &&
            live.every((view) => view.ok) &&
            new Set(live.map((v) => v.slots)).size === 1
          )
            return;
          last = JSON.stringify(live.map((view) => view.ok));
        } catch (error) {
          last = (error as Error).message;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`cluster not healthy after ${timeoutMs} ms (${last})`);
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
  await handle.waitHealthy();
  return handle;
}
