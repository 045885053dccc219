import type { Cluster, Redis } from 'ioredis';
import { validateLibraryOptions } from '../config/library-options.js';
import { publishingNode } from '../redis/data-connection.js';
import { createKeys } from '../redis/keys.js';
import { endPublishSpan, startPublishSpan, type TracedPublish } from '../tracing/publish-span.js';
import { encodeEnvelope } from './encode.js';
import { ENVELOPE_MARKER, type EnvelopeHeader } from './format.js';

/** Header fields for one message, plus whether to stamp the publish time. */
export interface PublishOptions extends EnvelopeHeader {
  /**
   * Time to live in ms from now: sets `expiresAt` to `Date.now() + ttlMs` (an explicit `expiresAt`
   * wins). A message still unhandled then is dead-lettered `expired`.
   */
  ttlMs?: number | undefined;
  /**
   * Set `timestamp` to `Date.now()` when it is not given. Defaults to the publisher's `stampTime`.
   * Note that a stamped message always carries a header (11 bytes for the timestamp alone).
   */
  stampTime?: boolean | undefined;
}

export interface PublisherOptions {
  /** A connected ioredis client (not one in subscriber mode). The publisher never closes it. */
  redis: Redis | Cluster;
  /** The pub/sub channel the dispatchers subscribe to. */
  channel: string;
  /** Default for `PublishOptions.stampTime` (default `false`). */
  stampTime?: boolean | undefined;
  /**
   * The deployment's REDISPATCH_PREFIX. On a Redis Cluster, messages are then published on the node
   * the dispatchers subscribe on, not a random one: a PUBLISH crossing the cluster bus is dropped
   * when a bus link resets (a busy host). Ignored on a single Redis.
   */
  prefix?: string | undefined;
  /**
   * This publisher's namespace (envelope record 0x08), for every message that does not name its own:
   * the leader dedupes `id` per namespace, so publishers in different namespaces cannot suppress
   * each other's messages (docs/security.md). 1..64 UTF-8 bytes.
   */
  namespace?: string | undefined;
}

export interface PublishItem {
  body: Buffer | Uint8Array | string;
  options?: PublishOptions | undefined;
}

/** Some PUBLISH commands of a batch failed; `results` holds, per item, its receiver count or its error. */
export class PublishBatchError extends Error {
  override readonly name = 'PublishBatchError';
  constructor(readonly results: readonly (number | Error)[]) {
    const failed = results.filter((r): r is Error => r instanceof Error);
    super(
      `${failed.length} of ${results.length} publishes failed; first: ${failed[0]?.message ?? 'unknown'}`,
      {
        cause: failed[0],
      },
    );
  }
}

/**
 * The payload to publish for `body` with `options`: the body as-is when there are no header fields
 * (a string, or a Buffer not starting with 0xFE — a UTF-8 string never does), else an envelope. A
 * headerless binary body starting with 0xFE is wrapped in the 3-byte empty envelope so no dispatcher
 * misreads it. Throws `TypeError`/`RangeError` for an invalid field, like `encodeEnvelope`.
 */
export function framePayload(
  body: Buffer | Uint8Array | string,
  options: PublishOptions = {},
  defaultStampTime = false,
  defaultNamespace?: string,
): Buffer | string {
  const { id, delayMs, dueAt, affinityKey, replyTo, identity, traceparent, tracestate } = options;
  const namespace = options.namespace ?? defaultNamespace;
  const { attempts, timeoutMs, priority } = options;
  let timestamp = options.timestamp;
  if (timestamp === undefined && (options.stampTime ?? defaultStampTime)) timestamp = Date.now();
  const expiresAt = options.expiresAt ?? expiryOf(options.ttlMs);
  if (
    id === undefined &&
    delayMs === undefined &&
    dueAt === undefined &&
    affinityKey === undefined &&
    replyTo === undefined &&
    timestamp === undefined &&
    identity === undefined &&
    traceparent === undefined &&
    tracestate === undefined &&
    attempts === undefined &&
    expiresAt === undefined &&
    timeoutMs === undefined &&
    priority === undefined &&
    namespace === undefined
  ) {
    if (typeof body === 'string') return body;
    if (body.byteLength > 0 && body[0] === ENVELOPE_MARKER) return encodeEnvelope({}, body);
    return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
  return encodeEnvelope(
    {
      id,
      delayMs,
      dueAt,
      affinityKey,
      replyTo,
      timestamp,
      identity,
      traceparent,
      tracestate,
      attempts,
      expiresAt,
      timeoutMs,
      priority,
      namespace,
    },
    body,
  );
}

/** `expiresAt` for a TTL: now + ttlMs. Throws a RangeError for anything but a positive integer. */
function expiryOf(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw new RangeError(`ttlMs must be a positive integer (ms), got ${String(ttlMs)}`);
  }
  return Date.now() + ttlMs;
}

/**
 * Publishes messages to the redispatch channel with plain `PUBLISH`, adding an envelope header only
 * when a message has header fields (or must be protected from being misread, see `framePayload`).
 *
 * ```ts
 * const publisher = new Publisher({ redis, channel: 'redispatch', stampTime: true });
 * await publisher.publish(JSON.stringify(job), { id: job.id, affinityKey: job.account, delayMs: 5_000 });
 * ```
 */
export class Publisher {
  private readonly redis: Redis | Cluster;
  readonly channel: string;
  private readonly stampTime: boolean;
  private readonly pin: string | undefined;
  private readonly namespace: string | undefined;

  /** Throws a ConfigError for a channel REDISPATCH_CHANNEL would refuse. */
  constructor(options: PublisherOptions) {
    validateLibraryOptions('Publisher', { channel: options.channel });
    this.redis = options.redis;
    this.channel = options.channel;
    this.stampTime = options.stampTime ?? false;
    if (options.namespace !== undefined) framePayload('', { namespace: options.namespace }); // throws early if invalid
    this.namespace = options.namespace;
    this.pin = options.prefix === undefined ? undefined : createKeys(options.prefix).epoch;
  }

  /** Where PUBLISH goes: the subscription node when the prefix is known (looked up per call). */
  private target(): Redis | Cluster {
    return this.pin === undefined ? this.redis : publishingNode(this.redis, this.pin);
  }

  /**
   * Publishes one message; resolves to the number of subscribers that received it (PUBLISH's reply —
   * 0 means no dispatcher was subscribed and the message is gone). Rejects without sending when a
   * header field is invalid.
   */
  async publish(body: Buffer | Uint8Array | string, options?: PublishOptions): Promise<number> {
    const traced = startPublishSpan(this.channel, options);
    if (traced === undefined)
      return this.target().publish(this.channel, framePayload(body, options, this.stampTime, this.namespace));
    try {
      const receivers = await this.target().publish(
        this.channel,
        framePayload(body, traced.options, this.stampTime, this.namespace),
      );
      endPublishSpan(traced.span, receivers);
      return receivers;
    } catch (error) {
      endPublishSpan(traced.span, error);
      throw error;
    }
  }

  /**
   * Publishes many messages in one pipeline (one round trip), in order; resolves to each message's
   * receiver count. Every item is framed before anything is sent, so an invalid item rejects the whole
   * batch unsent. If some PUBLISH commands fail, rejects with `PublishBatchError` (the others were sent).
   */
  async publishBatch(items: readonly PublishItem[]): Promise<number[]> {
    if (items.length === 0) return [];
    let spans: (TracedPublish<PublishOptions> | undefined)[] | undefined;
    let payloads: (Buffer | string)[];
    try {
      payloads = items.map((item, i) => {
        const traced = startPublishSpan(this.channel, item.options);
        if (traced === undefined)
          return framePayload(item.body, item.options, this.stampTime, this.namespace);
        spans ??= [];
        spans[i] = traced;
        return framePayload(item.body, traced.options, this.stampTime, this.namespace);
      });
    } catch (error) {
      for (const traced of spans ?? []) if (traced) endPublishSpan(traced.span, error);
      throw error;
    }
    const pipeline = this.target().pipeline();
    for (const payload of payloads) pipeline.publish(this.channel, payload);
    const replies = await pipeline.exec().catch((error: unknown) => {
      for (const traced of spans ?? []) if (traced) endPublishSpan(traced.span, error);
      throw error;
    });
    if (replies === null) {
      const discarded = new Error('publish pipeline was discarded');
      for (const traced of spans ?? []) if (traced) endPublishSpan(traced.span, discarded);
      throw discarded;
    }
    if (spans)
      for (const [i, traced] of spans.entries()) if (traced) endPublishSpan(traced.span, replies[i]?.[0]);
    let failed = false;
    const results = replies.map(([error, count]): number | Error => {
      if (error) {
        failed = true;
        return error;
      }
      return Number(count);
    });
    if (failed) throw new PublishBatchError(results);
    return results as number[];
  }
}
