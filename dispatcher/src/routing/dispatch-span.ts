/**
 * The leader's `dispatch` span: one per batch write (each retry of a batch is its own span), linked
 * to the trace context of every message in the batch that carries one. Only the envelope header is
 * read (`envelopeTraceparent`); a message without trace context costs a check, and with no SDK
 * installed nothing is read or built at all.
 */
import { type Link, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  endSpanWithError,
  envelopeTraceparent,
  messageLink,
  SpanAttribute,
  spanContextFromTraceparent,
  startMessagingSpan,
  tracingEnabled,
} from '@redispatch/shared';
import type { Batch } from './batcher.js';

/** `messaging.redispatch.epoch`: the leader's epoch (a replay after a failover shows a new one). */
const EPOCH_ATTRIBUTE = 'messaging.redispatch.epoch';

/** Runs `write` for `batch` under a dispatch span when tracing is on; otherwise just runs it. */
export async function traceDispatch(
  destination: string,
  epoch: number,
  batch: Batch,
  write: () => Promise<void>,
): Promise<void> {
  if (!tracingEnabled()) return write();
  let links: Link[] | undefined;
  for (const payload of batch.payloads) {
    const traceparent = envelopeTraceparent(payload);
    if (traceparent === undefined) continue;
    links ??= [];
    links.push(messageLink(spanContextFromTraceparent(traceparent), 'message'));
  }
  // A batch belongs to no one message's trace: a root span, linked to each of them.
  const span = startMessagingSpan({
    operation: 'dispatch',
    destination,
    parent: ROOT_CONTEXT,
    links,
    attributes: { [SpanAttribute.batchCount]: batch.payloads.length, [EPOCH_ATTRIBUTE]: epoch },
  });
  try {
    await write();
  } catch (error) {
    endSpanWithError(span, error);
    throw error;
  }
  span.end();
}
