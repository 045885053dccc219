import { EventEmitter } from 'node:events';
import { closeQuietly, createConnection, masterOf, type TlsSettings } from '@redispatch/shared';
import type { Cluster, Redis } from 'ioredis';

/** How often the pinned node is checked against the cluster's current owner of the key's slot. */
const CHECK_MS = 250;

export interface PinnedSubscriberOptions {
  /** The command connection to the cluster: its slot map says which node to subscribe on. */
  cluster: Cluster;
  /** Every dispatcher of a deployment pins to the master serving this key's slot. */
  key: string;
  /** REDISPATCH_REDIS_URL: credentials and scheme for the node connection. */
  url: string;
  tls: TlsSettings;
  commandTimeoutMs: number;
  name: string;
}

/**
 * Pub/sub on a Redis Cluster, on ONE node that every dispatcher of the deployment agrees on (the
 * master serving the deployment's own slot). A PUBLISH reaches every node, but over different
 * paths: subscribers on different nodes can see two publishers' messages in different orders, and
 * failover replay ("everything after the last written marker") needs every dispatcher to see one
 * order. One node delivers to all its subscribers in one order. When that master fails over, the
 * subscription moves to the new owner of the slot; the move is a gap ('close'), like a dropped
 * subscription on a single Redis. (ioredis's own cluster subscriber picks a random node.)
 */
export class PinnedSubscriber extends EventEmitter {
  private client: Redis | undefined;
  private target = '';
  private readonly channels = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private moving = false;
  private closed = false;

  constructor(private readonly options: PinnedSubscriberOptions) {
    super();
  }

  get status(): string {
    return this.client?.status ?? 'wait';
  }

  /** The `host:port` subscribed on now. */
  get node(): string {
    return this.target;
  }

  async connect(): Promise<void> {
    await this.attach();
    this.timer = setInterval(() => void this.check(), CHECK_MS);
    this.timer.unref();
  }

  async subscribe(...channels: string[]): Promise<unknown> {
    for (const channel of channels) this.channels.add(channel);
    return this.client?.subscribe(...channels);
  }

  async unsubscribe(...channels: string[]): Promise<unknown> {
    for (const channel of channels) this.channels.delete(channel);
    return this.client?.unsubscribe(...channels);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (this.client) await closeQuietly(this.client);
  }

  private owner(): string {
    return masterOf(this.options.cluster, this.options.key);
  }

  private async attach(): Promise<void> {
    const owner = this.owner();
    if (!owner) throw new Error(`no master is known for ${this.options.key} (cluster slot map empty)`);
    const split = owner.lastIndexOf(':');
    const url = new URL(this.options.url);
    url.hostname = owner.slice(0, split);
    url.port = owner.slice(split + 1);
    const client = createConnection('subscriber', {
      url: url.toString(),
      tls: this.options.tls,
      commandTimeoutMs: this.options.commandTimeoutMs,
      name: this.options.name,
    });
    client.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.emit('messageBuffer', channel, message),
    );
    client.on('close', () => {
      if (this.client === client && !this.closed) this.emit('close');
    });
    client.on('ready', () => {
      if (this.client === client) this.emit('ready');
    });
    this.client = client;
    this.target = owner;
    await client.connect();
    if (this.channels.size > 0) await client.subscribe(...this.channels);
  }

  /** Follows a failover: when another node now serves the slot, resubscribe there. */
  private async check(): Promise<void> {
    if (this.closed || this.moving) return;
    if (this.client?.status !== 'ready') {
      // The cluster connection re-learns the slot map from its errors; nudge it while we are cut off.
      this.options.cluster.refreshSlotsCache();
    }
    const owner = this.owner();
    if (!owner || owner === this.target) return;
    this.moving = true;
    const old = this.client;
    this.client = undefined;
    try {
      old?.disconnect();
      // A move is a gap: what was published between the two subscriptions reached neither.
      this.emit('close');
      await this.attach();
    } catch {
      // The next check tries again.
    } finally {
      this.moving = false;
    }
  }
}
