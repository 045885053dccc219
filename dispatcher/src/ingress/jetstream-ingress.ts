import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  StorageType,
} from 'nats';
import type { Deliver, Ingress } from './ingress.js';
import { connectNats, type NatsSettings } from './nats-connection.js';

export interface JetStreamTarget {
  subject: string;
  stream: string;
  consumer: string;
  /** How long a delivered, unacked message waits before JetStream redelivers it (to the next leader). */
  ackWaitMs: number;
}

/** Most messages delivered and not yet acked: bounds the leader's memory and a failover's duplicates. */
const MAX_ACK_PENDING = 20_000;

/**
 * NATS JetStream: a durable pull consumer that only the leader drains. Each message is acked only
 * after the batch holding it was written to Redis, so a leader crash, a failover or a total outage of
 * dispatchers loses nothing: JetStream keeps the messages and redelivers unacked ones after ackWait.
 */
export class JetStreamIngress implements Ingress {
  readonly consumers = 'leader' as const;
  readonly name = 'jetstream';
  private connection: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;

  constructor(
    private readonly settings: NatsSettings,
    private readonly target: JetStreamTarget,
  ) {}

  async connect(): Promise<void> {
    this.connection = await connectNats(this.settings);
    const manager = await this.connection.jetstreamManager();
    await this.ensureStream(manager);
    await this.ensureConsumer(manager);
  }

  async consume(deliver: Deliver): Promise<void> {
    if (this.messages || !this.connection) return;
    const consumer = await this.connection
      .jetstream()
      .consumers.get(this.target.stream, this.target.consumer);
    const messages = await consumer.consume({ max_messages: 1_000 });
    this.messages = messages;
    void (async () => {
      for await (const message of messages) {
        const data = message.data;
        deliver(Buffer.from(data.buffer, data.byteOffset, data.byteLength), () => message.ack());
      }
    })().catch(() => {
      // The iterator ends with an error when the connection closes; the next leader picks up.
    });
  }

  async pause(): Promise<void> {
    const messages = this.messages;
    this.messages = undefined;
    if (messages) await messages.close().catch(() => {});
  }

  connected(): boolean {
    return this.connection !== undefined && !this.connection.isClosed();
  }

  async close(): Promise<void> {
    await this.pause();
    await this.connection?.drain().catch(() => {});
  }

  private async ensureStream(manager: JetStreamManager): Promise<void> {
    try {
      const info = await manager.streams.info(this.target.stream);
      if (!info.config.subjects?.includes(this.target.subject)) {
        throw new Error(
          `REDISPATCH_NATS_STREAM: stream "${this.target.stream}" exists but does not capture subject "${this.target.subject}" (it has ${info.config.subjects?.join(', ') ?? 'none'})`,
        );
      }
    } catch (error) {
      if ((error as Error).message.startsWith('REDISPATCH_')) throw error;
      await manager.streams.add({
        name: this.target.stream,
        subjects: [this.target.subject],
        storage: StorageType.File,
      });
    }
  }

  private async ensureConsumer(manager: JetStreamManager): Promise<void> {
    try {
      await manager.consumers.info(this.target.stream, this.target.consumer);
    } catch {
      await manager.consumers.add(this.target.stream, {
        durable_name: this.target.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.target.ackWaitMs),
        max_ack_pending: MAX_ACK_PENDING,
      });
    }
  }
}
