import {
  type ClusterNode,
  type RedisCluster,
  type RedisClusterOptions,
  type SlotsReply,
  startRedisCluster as startCluster,
  withNode,
} from '@redispatch/shared/embedded';
import type { Redis } from 'ioredis';
import type { RedisHandle } from './redis-server.js';

/** One node of a test cluster: a redis-server process plus what the cluster says about it. */
export interface ClusterNodeHandle extends RedisHandle, ClusterNode {}

/** The production cluster launcher's handle, plus the slot operations tests drive. */
export interface RedisClusterHandle extends Omit<RedisCluster, 'nodes'> {
  readonly nodes: readonly ClusterNodeHandle[];
  /** Current masters (asked of a live node), each with the slot ranges it serves. */
  masters(): Promise<{ node: ClusterNodeHandle; ranges: [number, number][] }[]>;
  /** The node serving `slot` right now. */
  ownerOf(slot: number): Promise<ClusterNodeHandle>;
  /** Moves one slot (and its keys) to `target`, with MIGRATE in batches while clients keep writing. */
  migrateSlot(slot: number, target: ClusterNodeHandle): Promise<number>;
}

/**
 * Starts a real Redis Cluster on free loopback ports with the launcher `up --mode streams` uses
 * (@redispatch/shared/embedded), and adds what only tests need: slot owners and slot moves.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const cluster = await startCluster(options);
  const auth = options.auth;
  const withAuth = <T>(node: ClusterNode, use: (client: Redis) => Promise<T>) => withNode(node, use, auth);
  const nodes: ClusterNodeHandle[] = cluster.nodes.map((node) => ({ ...node, backend: 'process' }));

  const slotsFromAnyNode = async (): Promise<SlotsReply> => {
    let lastError: unknown;
    for (const node of nodes) {
      try {
        return await withAuth(node, (client) => client.call('CLUSTER', 'SLOTS') as Promise<SlotsReply>);
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no cluster node answered CLUSTER SLOTS: ${(lastError as Error)?.message}`);
  };
  const byPort = (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`CLUSTER SLOTS names unknown port ${port}`);
    return node;
  };

  const handle: RedisClusterHandle = {
    nodes,
    seeds: cluster.seeds,
    tlsSeeds: cluster.tlsSeeds,
    waitHealthy: (timeoutMs) => cluster.waitHealthy(timeoutMs),
    stop: () => cluster.stop(),
    async masters() {
      const slots = await slotsFromAnyNode();
      const grouped = new Map<number, [number, number][]>();
      for (const [start, end, [, port]] of slots) {
        const list = grouped.get(port) ?? [];
        list.push([start, end]);
        grouped.set(port, list);
      }
      return [...grouped.entries()]
        .sort(([a], [b]) => a - b)
        .map(([port, ranges]) => ({ node: byPort(port), ranges }));
    },
    async ownerOf(slot) {
      const slots = await slotsFromAnyNode();
      const entry = slots.find(([start, end]) => slot >= start && slot <= end);
      if (!entry) throw new Error(`slot ${slot} is not served`);
      return byPort(entry[2][1]);
    },
    async migrateSlot(slot, target) {
      const source = await handle.ownerOf(slot);
      if (source.port === target.port) return 0;
      await withAuth(target, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.nodeId));
      await withAuth(source, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.nodeId));
      let moved = 0;
      await withAuth(source, async (client) => {
        for (;;) {
          const keys = (await client.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
          if (keys.length === 0) break;
          const credentials = auth ? ['AUTH2', auth.username, auth.password] : [];
          await client.call(
            'MIGRATE',
            target.host,
            target.port,
            '',
            0,
            10_000,
            ...credentials,
            'KEYS',
            ...keys,
          );
          moved += keys.length;
        }
      });
      // Target first, then source, then everyone else: the order redis-cli uses.
      await withAuth(target, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.nodeId));
      await withAuth(source, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.nodeId));
      for (const node of nodes) {
        if (node === source || node === target) continue;
        await withAuth(node, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.nodeId)).catch(
          () => {},
        );
      }
      return moved;
    },
  };
  return handle;
}
