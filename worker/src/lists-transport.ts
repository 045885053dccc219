import type { SpanContext } from '@opentelemetry/api';
import {
  closeQuietly,
  connectOrThrow,
  createConnection,
  joinDeployment,
  scripts,
  withAttemptLink,
} from '@redispatch/shared';
import type { Redis } from 'ioredis';
import { ExtendBatcher } from './extend-batcher.js';
import { Registration } from './registration.js';
import { type OutboundSettings, type PendingReply, Settler } from './settler.js';
import type { Delivery, Transport, TransportHost, TransportOptions } from './transport.js';

/** How long one BLMOVE wake-up blocks before the loop checks its state again. */
const BLOCK_SECONDS = 1;

export interface ListsTransportOptions extends TransportOptions {
  prefix: string;
}

/**
 * Lists mode: the worker's own queue. Each take settles what finished and claims more in ONE script
 * call; an empty queue is waited on with a non-destructive BLMOVE rotation on its own connection.
 */
export class ListsTransport implements Transport {
  private readonly redis: Redis;
  private readonly registration: Registration;
  private readonly blocking: Redis;
  private readonly settler: Settler;
  private readonly outbound: OutboundSettings;
  private readonly extender: ExtendBatcher;
  readonly extendReachMs = Number.POSITIVE_INFINITY;

  constructor(private readonly options: ListsTransportOptions) {
    const base = { url: options.redisUrl, tls: options.tls, commandTimeoutMs: options.commandTimeoutMs };
    this.redis = createConnection('command', { ...base, name: `rd-worker-${options.workerId}` });
    this.registration = new Registration(this.redis, options.keys, options.workerId);
    this.blocking = createConnection('blocking', { ...base, name: `rd-worker-block-${options.workerId}` });
    this.outbound = { max: options.outboundMax, tag: options.keys.tag };
    this.settler = new Settler(
      this.redis,
      options.keys,
      options.workerId,
      options.maxAttempts,
      this.outbound,
      options.resultsMaxLen === undefined
        ? undefined
        : { key: options.keys.results, maxLen: options.resultsMaxLen },
      options.metrics,
      (error) => options.log.warn({ err: error }, 'settle failed; retrying'),
    );
    this.extender = new ExtendBatcher((batch) =>
      scripts.extendClaims(this.redis, options.keys, {
        workerId: options.workerId,
        requests: batch.map(({ delivery, ms }) => ({ ref: delivery.receipt, attempt: delivery.attempt, ms })),
      }),
    );
  }

  async start(): Promise<void> {
    const { redisUrl, commandTimeoutMs } = this.options;
    await connectOrThrow(this.redis, redisUrl, 'REDISPATCH_REDIS_URL', commandTimeoutMs * 5);
    await connectOrThrow(this.blocking, redisUrl, 'REDISPATCH_REDIS_URL', commandTimeoutMs * 5);
    // Before registering: a worker that joins a streams deployment would be routed nothing it takes.
    await joinDeployment(this.redis, this.options.keys, {
      prefix: this.options.prefix,
      mode: 'lists',
      partitions: 0,
      stamp: true,
      loadPartitions: false,
    });
    await this.heartbeat();
  }

  connected(): boolean {
    return this.redis.status === 'ready';
  }

  heartbeat(): Promise<boolean> {
    return this.registration.beat();
  }

  leave(): Promise<void> {
    return this.registration.leave();
  }

  ack(delivery: Delivery, replies?: readonly PendingReply[], result?: Buffer): void {
    this.settler.ack(delivery.receipt, replies, result);
  }

  extend(delivery: Delivery, ms: number): Promise<boolean> {
    return this.extender.extend(delivery, ms);
  }

  nack(delivery: Delivery, delayMs: number, error: string, failedSpan?: SpanContext): void {
    // A retry carries the failed attempt's span to whichever worker claims the next attempt.
    const carried = failedSpan === undefined || delayMs < 0 ? error : withAttemptLink(error, failedSpan);
    this.settler.nack(delivery.receipt, delayMs, carried);
  }

  drain(timeoutMs: number): Promise<void> {
    return this.settler.drain(timeoutMs);
  }

  interrupt(): void {
    // Nothing is taken by a blocked BLMOVE (it only rotates), so dropping it loses nothing.
    this.blocking.disconnect();
  }

  async close(): Promise<void> {
    await Promise.all([closeQuietly(this.redis), closeQuietly(this.blocking)]);
  }

  async run(host: TransportHost): Promise<void> {
    const { keys, workerId, prefetch, log } = this.options;
    let rotated = '';
    let failures = 0;
    while (host.taking()) {
      const free = host.free();
      if (free <= 0) {
        await host.waitForSlot();
        continue;
      }
      try {
        const claimed = await this.claim(host, free + prefetch, rotated);
        rotated = '';
        failures = 0;
        if (claimed === 0 && host.taking()) {
          // Non-destructive wait: BLMOVE q q RIGHT LEFT rotates one id when something arrives; the
          // next claim puts it back in order. Nothing leaves the queue outside the claim script.
          const id = await this.blocking.blmove(
            keys.queue(workerId),
            keys.queue(workerId),
            'RIGHT',
            'LEFT',
            BLOCK_SECONDS,
          );
          rotated = id ?? '';
        }
      } catch (error) {
        if (!host.taking()) break;
        failures += 1;
        const delay = Math.min(50 * 2 ** failures, 2_000);
        log.warn({ err: error, delayMs: delay }, 'take failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Settles what finished since the last call and claims up to `count` more, in ONE script call. */
  private async claim(host: TransportHost, count: number, rotated: string): Promise<number> {
    const { keys: k, workerId, ackTimeoutMs, maxAttempts, log } = this.options;
    const taken = this.settler.take();
    let reply: scripts.SettleClaimReply;
    try {
      reply = await scripts.settleClaim(this.redis, k, {
        workerId,
        count,
        ackTimeoutMs,
        rotated,
        maxAttempts,
        ...taken,
        replyQueues: this.outbound,
        resultsStream: this.settler.resultsStream,
      });
    } catch (error) {
      this.settler.restore(taken);
      throw error;
    }
    this.settler.record(reply);
    if (!reply.registered) {
      await this.heartbeat();
      log.warn('re-registered before claiming: the leader had declared this worker dead');
      return 0;
    }
    const deliveries: Delivery[] = reply.claimed.map(({ id, attempt, payload, previousAttempt }) => ({
      receipt: id,
      id,
      attempt,
      body: payload,
      previousAttempt,
    }));
    host.accept(deliveries);
    return deliveries.length;
  }
}
