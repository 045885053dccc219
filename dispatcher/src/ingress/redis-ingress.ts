import type { Deliver, Ingress, PubSubClient } from './ingress.js';
import { sameBytes } from './same-bytes.js';

/**
 * Redis pub/sub on the dispatcher's subscriber connection (which also carries the control channel).
 * At-most-once: what is published while nobody is subscribed is gone, hence standby buffers.
 */
export class RedisIngress implements Ingress {
  readonly consumers = 'all' as const;
  readonly name = 'redis';
  private deliver: Deliver | undefined;
  private subscribed = false;
  /** Compared as bytes: decoding every message's channel name was a string per message. */
  private readonly channelBytes: Buffer;

  constructor(
    private readonly subscriber: PubSubClient,
    private readonly channel: string,
  ) {
    this.channelBytes = Buffer.from(channel);
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (this.deliver && sameBytes(channel, this.channelBytes)) this.deliver(message);
    });
  }

  async connect(): Promise<void> {
    // The dispatcher connects the subscriber connection itself.
  }

  async consume(deliver: Deliver): Promise<void> {
    this.deliver = deliver;
    if (this.subscribed) return;
    await this.subscriber.subscribe(this.channel);
    this.subscribed = true;
  }

  async pause(): Promise<void> {
    this.deliver = undefined;
    if (!this.subscribed) return;
    this.subscribed = false;
    await this.subscriber.unsubscribe(this.channel);
  }

  connected(): boolean {
    return this.subscriber.status === 'ready';
  }

  async close(): Promise<void> {
    await this.pause().catch(() => {});
  }
}
