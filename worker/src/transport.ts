import type { SpanContext } from '@opentelemetry/api';
import type { Keys, Logger, TlsSettings } from '@redispatch/shared';
import type { WorkerMetrics } from './metrics.js';

/** What every transport is built from (the worker's validated options). */
export interface TransportOptions {
  redisUrl: string;
  tls: TlsSettings;
  commandTimeoutMs: number;
  keys: Keys;
  workerId: string;
  ackTimeoutMs: number;
  maxAttempts: number;
  prefetch: number;
  /** Most replies one outbound queue holds. */
  outboundMax: number;
  /** Approximate cap of the results stream(s); undefined: results are off (REDISPATCH_RESULTS). */
  resultsMaxLen: number | undefined;
  metrics: WorkerMetrics;
  log: Logger;
}

import type { PendingReply } from './settler.js';

/** One message a transport handed to the worker. */
export interface Delivery {
  /** What the transport needs to settle it (lists: the id; streams: partition and entry id). */
  readonly receipt: string;
  /** Leader-assigned message id (the handler's `msg.id`). */
  readonly id: string;
  readonly body: Buffer;
  readonly attempt: number;
  /** The previous attempt's span context (hex), when another worker's traced nack left it (lists mode). */
  readonly previousAttempt?: string | undefined;
}

/** What a transport may ask of the worker while it takes messages. */
export interface TransportHost {
  /** Handler slots plus prefetch room not in use now. */
  free(): number;
  /** Resolves when a slot frees (or the worker stops). */
  waitForSlot(): Promise<void>;
  /** False once the worker stops taking. */
  taking(): boolean;
  /** Starts (or queues) what was taken. */
  accept(deliveries: readonly Delivery[]): void;
}

/**
 * Where a worker takes messages from and settles them: per-worker lists or a stream consumer
 * group. The worker itself owns handlers, concurrency, deadlines and the lifecycle.
 */
export interface Transport {
  /** Connects, registers (first heartbeat), prepares its structures; throws naming the setting. */
  start(): Promise<void>;
  /** Takes messages until `host.taking()` turns false. */
  run(host: TransportHost): Promise<void>;
  /**
   * Acks; `replies` (outbound writes for the message's reply address) are written with the ack where
   * the mode allows (lists: the same script call, only if the ack is not stale).
   */
  ack(delivery: Delivery, replies?: readonly PendingReply[], result?: Buffer): void;
  /**
   * `delayMs` < 0 (scripts.DEAD_LETTER_NOW): dead-letter at once with `error` as the reason.
   * `failedSpan`: the failed attempt's process span (only when tracing), kept for the next attempt's
   * link where the mode can carry it (lists).
   */
  nack(delivery: Delivery, delayMs: number, error: string, failedSpan?: SpanContext): void;
  /**
   * Moves the claim's deadline min(ms, extendReachMs) ahead on the Redis clock, only while this worker
   * still owns this attempt; false (and nothing changed) otherwise. Batched per event-loop turn.
   */
  extend(delivery: Delivery, ms: number): Promise<boolean>;
  /** How far one extension reaches at most (streams: one ack timeout, as Redis cannot idle below 0). */
  readonly extendReachMs: number;
  /** Refreshes the heartbeat; resolves to false when the worker had been declared dead and re-joined. */
  heartbeat(): Promise<boolean>;
  /** Deregisters at once, so what this worker left behind is reassigned without waiting for the TTL. */
  leave(): Promise<void>;
  /** Wakes blocked reads so `run` can return. */
  interrupt(): void;
  /** Resolves once every ack and nack handed in is settled (or the timeout passed). */
  drain(timeoutMs: number): Promise<void>;
  connected(): boolean;
  close(): Promise<void>;
}
