import { type DataClient, isCluster } from '@redispatch/shared';
import type { Redis } from 'ioredis';

/** How often a cluster subscriber's underlying connection is checked for a switch. */
const CLUSTER_CHECK_MS = 100;

interface ClusterSubscriberInternals {
  subscriber?: { getInstance?: () => Redis | null };
}

/**
 * Calls `onLost` whenever the subscriber connection drops, since pub/sub keeps nothing for a
 * disconnected subscriber and the buffer now has a hole. A single Redis: its 'close' event. A
 * cluster: ioredis moves the subscription to another node by itself and says nothing, so the
 * connection it uses is watched (read from ioredis's internal ClusterSubscriber; if a future
 * ioredis hides it, the watch sees no connection and stays silent rather than guessing).
 */
export class SubscriptionWatch {
  private timer: NodeJS.Timeout | undefined;
  private current: Redis | null | undefined;
  private readonly onClose = () => this.onLost();

  constructor(
    private readonly client: DataClient,
    private readonly onLost: () => void,
  ) {}

  start(): void {
    if (!isCluster(this.client)) {
      this.client.on('close', this.onClose);
      return;
    }
    const internals = this.client as unknown as ClusterSubscriberInternals;
    this.timer = setInterval(() => {
      const instance = internals.subscriber?.getInstance?.() ?? null;
      if (instance === this.current) return;
      const hadOne = this.current !== undefined && this.current !== null;
      this.current?.off('close', this.onClose);
      this.current = instance;
      instance?.on('close', this.onClose);
      if (hadOne) this.onLost();
    }, CLUSTER_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    if (!isCluster(this.client)) this.client.off('close', this.onClose);
    this.current?.off('close', this.onClose);
  }
}
