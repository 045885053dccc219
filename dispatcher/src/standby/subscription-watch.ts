import type { PubSubClient } from '../ingress/ingress.js';

/**
 * Calls `onLost` whenever the subscriber connection drops (or, on a cluster, moves to another node):
 * pub/sub keeps nothing for a disconnected subscriber, so the buffer now has a hole.
 */
export class SubscriptionWatch {
  private readonly onClose = () => this.onLost();

  constructor(
    private readonly client: PubSubClient,
    private readonly onLost: () => void,
  ) {}

  start(): void {
    this.client.on('close', this.onClose);
  }

  stop(): void {
    this.client.off('close', this.onClose);
  }
}
