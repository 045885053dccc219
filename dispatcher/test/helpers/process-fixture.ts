import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createDataConnection } from '@redispatch/shared';
import {
  type NatsHandle,
  type NatsServerOptions,
  type RedisClusterHandle,
  type RedisClusterOptions,
  type RedisHandle,
  startNatsServer,
  startRedis,
  startRedisCluster,
} from '@redispatch/testing';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type CliProcess, spawnCli } from './cli-process.js';

/** What one test file shares: its own servers, an admin connection, and everything it must clean up. */
export interface ProcessFixture {
  readonly redis: RedisHandle;
  readonly admin: Redis;
  /** Present when the fixture was asked for NATS. */
  readonly nats: NatsHandle;
  /** Present when the fixture was asked for a Redis Cluster (then there is no single `redis`). */
  readonly cluster: RedisClusterHandle;
  /** An admin connection to the cluster. */
  readonly clusterAdmin: Cluster;
  /** Runs `redispatch <args>`; the process is SIGKILLed after the file if still running. */
  spawn(args: string[], env: Record<string, string>): CliProcess;
  /** A temp directory removed after the file. */
  tempDir(name: string): string;
  /** Number of subscribers on a Redis pub/sub channel (summed over every node of a cluster). */
  subscribers(channel: string): Promise<number>;
}

/**
 * Registers beforeAll/afterAll for a test file: a redis-server on a free port (and nats-server when
 * asked), an admin connection, and cleanup of every process and temp directory the file made.
 */
export function useProcessFixture(
  options: { nats?: NatsServerOptions; cluster?: RedisClusterOptions } = {},
): ProcessFixture {
  let redis: RedisHandle | undefined;
  let nats: NatsHandle | undefined;
  let admin: Redis | undefined;
  let cluster: RedisClusterHandle | undefined;
  let clusterAdmin: Cluster | undefined;
  const processes: CliProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    if (options.cluster) {
      cluster = await startRedisCluster(options.cluster);
      clusterAdmin = createDataConnection('command', {
        url: 'redis://127.0.0.1',
        clusterNodes: cluster.seeds.split(','),
        tls: { insecure: false },
        commandTimeoutMs: 5_000,
        name: 'admin',
      }) as Cluster;
      await clusterAdmin.connect();
      return;
    }
    [redis, nats] = await Promise.all([
      startRedis(),
      options.nats ? startNatsServer(options.nats) : Promise.resolve(undefined),
    ]);
    admin = createConnection('command', {
      url: redis.url,
      tls: { insecure: false },
      commandTimeoutMs: 5_000,
      name: 'admin',
    });
    await admin.connect();
  }, 60_000);
  afterAll(async () => {
    for (const proc of processes) proc.kill('SIGKILL');
    await Promise.all(processes.map((proc) => proc.exited()));
    admin?.disconnect();
    clusterAdmin?.disconnect();
    await Promise.all([redis?.stop(), nats?.stop(), cluster?.stop()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const required = <T>(value: T | undefined, name: string): T => {
    if (value === undefined)
      throw new Error(`fixture: ${name} is not available (outside a test, or not requested)`);
    return value;
  };
  return {
    get redis() {
      return required(redis, 'redis');
    },
    get admin() {
      return required(admin, 'admin connection');
    },
    get nats() {
      return required(nats, 'nats');
    },
    get cluster() {
      return required(cluster, 'cluster');
    },
    get clusterAdmin() {
      return required(clusterAdmin, 'cluster admin connection');
    },
    spawn(args, env) {
      const proc = spawnCli(args, env);
      processes.push(proc);
      return proc;
    },
    tempDir(name) {
      const dir = mkdtempSync(join(tmpdir(), `redispatch-${name}-`));
      dirs.push(dir);
      return dir;
    },
    async subscribers(channel) {
      if (cluster) {
        // Every node, replicas included (a cluster subscriber may pick any), asked directly.
        const counts = await Promise.all(
          cluster.nodes.map(async (node) => {
            const client = createConnection('command', {
              url: node.url,
              tls: { insecure: false },
              commandTimeoutMs: 2_000,
              name: 'admin-numsub',
            });
            try {
              await client.connect();
              return Number(((await client.pubsub('NUMSUB', channel)) as [string, number])[1]);
            } catch {
              return 0;
            } finally {
              client.disconnect();
            }
          }),
        );
        return counts.reduce((a, b) => a + b, 0);
      }
      const reply = (await required(admin, 'admin connection').pubsub('NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    },
  };
}
