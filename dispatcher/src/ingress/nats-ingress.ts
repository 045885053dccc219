import type { NatsConnection, Subscription } from 'nats';
import type { Deliver, Ingress } from './ingress.js';
import { connectNats, type NatsSettings } from './nats-connection.js';

/** NATS core subject: at-most-once like Redis pub/sub, so every dispatcher consumes and standbys buffer. */
export class NatsIngress implements Ingress {
  readonly consumers = 'all' as const;
  readonly name = 'nats';
  private connection: NatsConnection | undefined;
  private subscription: Subscription | undefined;

  constructor(
    private readonly settings: NatsSettings,
    private readonly subject: string,
  ) {}

  async connect(): Promise<void> {
    this.connection = await connectNats(this.settings);
  }

  async consume(deliver: Deliver): Promise<void> {
    if (this.subscription || !this.connection) return;
    this.subscription = this.connection.subscribe(this.subject, {
      callback: (error, message) => {
        if (error) return;
        const data = message.data;
        deliver(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      },
    });
    // Make the server register the subscription before we report ready.
    await this.connection.flush();
  }

  async pause(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  connected(): boolean {
    return this.connection !== undefined && !this.connection.isClosed();
  }

  async close(): Promise<void> {
    await this.pause();
    await this.connection?.drain().catch(() => {});
  }
}
