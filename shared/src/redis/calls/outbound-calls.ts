import type { Keys } from '../keys.js';
import type { ReplyWrite } from './lists-worker-calls.js';
import { numberAt, type ScriptClient } from './script-client.js';

/** One consumer's view of an outbound queue: the shared source and its own processing list. */
export interface OutboundQueueKeys {
  source: string;
  processing: string;
}

/** outboundTake-2.lua: moves up to `count` entries, oldest first, into the processing list. */
export async function outboundTake(
  client: ScriptClient,
  keys: OutboundQueueKeys,
  args: { count: number },
): Promise<{ nowMs: number; entries: Buffer[] }> {
  const reply = await client.rdOutboundTakeBuffer(keys.source, keys.processing, args.count);
  return { nowMs: Number(reply[0]), entries: reply.slice(1) as Buffer[] };
}

/** An outbound entry to dead-letter, with its reason. */
export interface DeadOutboundEntry {
  reason: string;
  raw: Buffer;
}

/** outboundSettle-2.lua: delivered entries leave the processing list, dead ones go to the dead list. */
export async function outboundSettle(
  client: ScriptClient,
  keys: { processing: string; dead: string },
  args: { done: readonly Buffer[]; dead: readonly DeadOutboundEntry[] },
): Promise<{ removed: number; deadLettered: number }> {
  const reply = await client.rdOutboundSettle(
    keys.processing,
    keys.dead,
    args.done.length,
    ...args.done,
    ...args.dead.flatMap((d) => [d.reason, d.raw]),
  );
  return { removed: numberAt(reply, 0), deadLettered: numberAt(reply, 1) };
}

/** outboundReturn-2.lua: the consumer's unfinished entries back to their queue; returns how many. */
export function outboundReturn(client: ScriptClient, keys: OutboundQueueKeys): Promise<number> {
  return client.rdOutboundReturn(keys.processing, keys.source);
}

/** outboundWrite-1.lua (streams mode): replies of acked messages, before the acks go out. */
export async function outboundWrite(
  client: ScriptClient,
  keys: Pick<Keys, 'relays' | 'tag'>,
  args: { max: number; replies: readonly ReplyWrite[] },
): Promise<{ written: number; deadLettered: number }> {
  const reply = await client.rdOutboundWrite(
    keys.relays,
    args.max,
    keys.tag,
    ...args.replies.flatMap((r) => [r.id, r.route, r.tail]),
  );
  return { written: numberAt(reply, 0), deadLettered: numberAt(reply, 1) };
}

/** relaySweep-2.lua: relays silent past the retention are swept (their replies dead-lettered). */
export async function relaySweep(
  client: ScriptClient,
  keys: Pick<Keys, 'relays' | 'outboundDead' | 'tag'>,
  args: { retentionMs: number; limit: number },
): Promise<{ relaysSwept: number; deadLettered: number; returnedToHttp: number }> {
  const reply = await client.rdRelaySweep(
    keys.relays,
    keys.outboundDead,
    args.retentionMs,
    keys.tag,
    args.limit,
  );
  return {
    relaysSwept: numberAt(reply, 0),
    deadLettered: numberAt(reply, 1),
    returnedToHttp: numberAt(reply, 2),
  };
}
