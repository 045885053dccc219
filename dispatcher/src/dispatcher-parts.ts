import {
  type Config,
  closeQuietly,
  connectOrThrow,
  createConnection,
  createDataConnection,
  createKeys,
  type DataClient,
  dataSetting,
  dataTarget,
  isCluster,
  type Keys,
  type Logger,
  RedisUnavailableError,
  tlsSettingsFrom,
} from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createIngress } from './ingress/create-ingress.js';
import type { Ingress } from './ingress/ingress.js';
import { PinnedSubscriber } from './ingress/pinned-subscriber.js';
import { LeaderLease } from './leadership/leader-lease.js';
import { createDispatcherMetrics, type DispatcherMetrics } from './metrics.js';
import { ListsMode } from './routing/lists/lists-mode.js';
import type { RoutingMode } from './routing/routing-mode.js';
import { StreamsMode } from './routing/streams/streams-mode.js';
import { ReplayBuffer } from './standby/replay-buffer.js';

/**
 * What a dispatcher is made of, made once in its constructor: its connections, the routing mode over
 * them, the lease, the intake and the standby buffer. The state machine (dispatcher.ts) wires them;
 * the election, each term and the catch-up are made from the same parts.
 */
export interface DispatcherParts {
  id: string;
  keys: Keys;
  log: Logger;
  metrics: DispatcherMetrics;
  leaseMs: number;
  redis: DataClient;
  /** A Redis; on a cluster, a subscription pinned to the node every dispatcher agrees on. */
  subscriber: Redis | PinnedSubscriber;
  lease: LeaderLease;
  mode: RoutingMode;
  ingress: Ingress;
  buffer: ReplayBuffer;
}

export function createDispatcherParts(config: Config, logger: Logger, registry: Registry): DispatcherParts {
  const id = config.instanceId;
  const keys = createKeys(config.prefix);
  const log = logger.child({ component: 'dispatcher', instanceId: id });
  const metrics = createDispatcherMetrics(registry);
  const tls = tlsSettingsFrom(config);
  const base = {
    url: config.redisUrl,
    clusterNodes: config.mode === 'streams' ? config.clusterNodes : undefined,
    clusterNatMap: config.clusterNatMap,
    tls,
    commandTimeoutMs: config.commandTimeoutMs,
  };
  const redis = createDataConnection('command', { ...base, name: `rd-dispatcher-${id}` });
  const subscriber = isCluster(redis)
    ? new PinnedSubscriber({
        cluster: redis,
        key: keys.epoch,
        url: config.redisUrl,
        tls,
        commandTimeoutMs: config.commandTimeoutMs,
        name: `rd-dispatcher-sub-${id}`,
      })
    : createConnection('subscriber', { ...base, name: `rd-dispatcher-sub-${id}` });
  let mode: RoutingMode;
  if (config.mode === 'streams') {
    mode = new StreamsMode(redis, keys, config, metrics);
  } else if (isCluster(redis)) {
    throw new Error('lists mode runs on a single Redis (REDISPATCH_REDIS_URL), not a cluster');
  } else {
    mode = new ListsMode(redis, keys, config, metrics);
  }
  const ingress = createIngress(config, subscriber, id);
  const lease = new LeaderLease({
    lockUrls: config.lockUrls,
    // Streams mode on a cluster without REDISPATCH_LOCK_URLS: the lease lives on the cluster itself.
    lockCluster: config.lockUrls.length === 0 ? base : undefined,
    tls,
    resource: keys.leaseLock,
    leaseMs: config.leaseMs,
    name: `rd-dispatcher-${id}`,
  });
  const buffer = new ReplayBuffer({
    maxMessages: config.standbyBufferMax,
    maxBytes: config.standbyBufferBytes,
    maxAgeMs: config.standbyBufferAgeMs,
  });
  if (config.tlsInsecure) {
    log.warn(
      'TLS certificate verification is DISABLED (REDISPATCH_TLS_INSECURE=true); never use this in production',
    );
  }
  return { id, keys, log, metrics, leaseMs: config.leaseMs, redis, subscriber, lease, mode, ingress, buffer };
}

/** Connects the command and subscriber connections and prepares the mode (throws naming the setting). */
export async function connectDispatcher(config: Config, parts: DispatcherParts): Promise<void> {
  const { redis, subscriber, mode } = parts;
  const settings = {
    url: config.redisUrl,
    clusterNodes: config.mode === 'streams' ? config.clusterNodes : undefined,
  };
  const timeoutMs = config.commandTimeoutMs * 5;
  await connectOrThrow(redis, dataTarget(settings), dataSetting(settings), timeoutMs);
  if (subscriber instanceof PinnedSubscriber) {
    try {
      await subscriber.connect();
    } catch (error) {
      throw new RedisUnavailableError(
        `${dataSetting(settings)}: cannot subscribe on ${subscriber.node || 'the cluster'}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } else {
    await connectOrThrow(subscriber, dataTarget(settings), dataSetting(settings), timeoutMs);
  }
  await mode.prepare();
}

/** Quits both connections (the last step of a close). */
export function quitDispatcherConnections(parts: DispatcherParts): Promise<unknown> {
  const { redis, subscriber } = parts;
  return Promise.all([
    closeQuietly(redis),
    subscriber instanceof PinnedSubscriber ? subscriber.close() : closeQuietly(subscriber),
  ]);
}
