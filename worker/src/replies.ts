import {
  encodeOutboundTail,
  outboundRoute,
  parseReplyAddress,
  type ReplyBytes,
  replyBytes,
} from '@redispatch/shared';
import type { WorkerMetrics } from './metrics.js';
import type { PendingReply } from './settler.js';

/**
 * The outbound writes for one acked message: the replies given to `msg.reply`, else the handler's
 * resolved value. Nothing is encoded for a message without a reply address redispatch delivers to
 * (`relay:…`, `http(s)://…`); such replies are only counted. Throws TypeError for a resolved value
 * that cannot be encoded (the worker nacks the message with it).
 */
export function pendingReplies(
  metrics: WorkerMetrics,
  id: string,
  replyTo: string | undefined,
  explicit: readonly ReplyBytes[] | undefined,
  value: unknown,
): PendingReply[] | undefined {
  if (explicit === undefined && (value === undefined || value === null)) return undefined;
  const address = parseReplyAddress(replyTo);
  if (address === undefined || replyTo === undefined) {
    metrics.replies.inc({ outcome: 'unaddressed' }, explicit?.length ?? 1);
    return undefined;
  }
  const present = explicit ?? [replyBytes(value)].filter((r): r is ReplyBytes => r !== undefined);
  if (present.length === 0) return undefined;
  const route = outboundRoute(address);
  return present.map((r) => ({
    id,
    route,
    tail: encodeOutboundTail({ messageId: id, replyTo, payload: r.payload, text: r.text }),
  }));
}
