import type { PubSubClient } from '../ingress/ingress.js';

export interface SubscriptionWatchOptions {
  client: PubSubClient;
  /** A channel this process is subscribed to; re-subscribing to it tells when the re-sent SUBSCRIBEs are in. */
  channel: string;
  /** Whether a drop was noticed and the subscription is not proven back yet. */
  inGap: () => boolean;
  /** The subscriber connection dropped (or, on a cluster, moved to another node). */
  onLost: () => void;
  /** The subscription is back: from here on this process hears everything published. */
  onBack: () => void;
}

/**
 * Watches the pub/sub subscription: pub/sub keeps nothing for a disconnected subscriber, so a drop
 * leaves a hole in the buffer (`onLost`), and the buffer is whole again only for what is published
 * after the subscription is back (`onBack`).
 */
export class SubscriptionWatch {
  private readonly onClose = () => this.options.onLost();

  constructor(private readonly options: SubscriptionWatchOptions) {}

  start(): void {
    const { client, inGap } = this.options;
    client.on('close', this.onClose);
    // ioredis emits 'ready' just before it re-sends the SUBSCRIBEs, so look on the next turn.
    client.on('ready', () => {
      if (inGap()) setImmediate(() => void this.confirmResubscribed());
    });
  }

  stop(): void {
    this.options.client.off('close', this.onClose);
  }

  private async confirmResubscribed(): Promise<void> {
    try {
      // Answered after the re-sent SUBSCRIBEs on the same connection: from here on we hear everything.
      await this.options.client.subscribe(this.options.channel);
    } catch {
      return; // dropped again; the next 'ready' tries again
    }
    this.options.onBack();
  }
}
