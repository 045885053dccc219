/** Hands one received payload to the dispatcher; `ack` (JetStream) is called once its batch is written. */
export type Deliver = (payload: Buffer, ack?: () => void) => void;

/**
 * Where messages come from. Two kinds:
 * - `all`: every dispatcher consumes (Redis pub/sub, NATS core). At-most-once transports: standbys
 *   buffer what they receive and a new leader replays what the old one cannot be proven to have written.
 * - `leader`: only the leader consumes, and acknowledges each message only after its batch write
 *   returned (NATS JetStream). Nothing is lost while no dispatcher runs; the transport redelivers.
 */
export interface Ingress {
  readonly consumers: 'all' | 'leader';
  /** A short name for logs and errors. */
  readonly name: string;
  /** Connects (validating the settings); does not consume yet. */
  connect(): Promise<void>;
  /** Starts delivering. Idempotent while consuming. */
  consume(deliver: Deliver): Promise<void>;
  /** Stops delivering; messages delivered but not acked are redelivered by the transport (leader kind). */
  pause(): Promise<void>;
  /** True while the connection to the transport is up. */
  connected(): boolean;
  close(): Promise<void>;
}

/** What the Redis pub/sub ingress needs of its subscriber connection (a Redis, or a PinnedSubscriber). */
export interface PubSubClient {
  readonly status: string;
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  on(event: 'close' | 'ready', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
}
