import type { Keys } from '../keys.js';
import { throwOnScriptCode } from '../script-code.js';
import { numberAt, type ScriptArg, type ScriptClient } from './script-client.js';

export interface SettleNack {
  id: string;
  delayMs: number;
  error: string;
}

/** A reply written with its message's ack: the outbound route and the entry tail (see outbound). */
export interface ReplyWrite {
  id: string;
  route: string;
  tail: Buffer;
}

/** A nack's `delayMs` that dead-letters the message at once, its error the whole reason (UnrecoverableError). */
export const DEAD_LETTER_NOW = -1;

/** A handler's return value for the results stream, written with its message's ack. */
export interface ResultWrite {
  id: string;
  result: Buffer;
}

/** The results stream (REDISPATCH_RESULTS=stream): its key and approximate cap. */
export interface ResultsStream {
  key: string;
  maxLen: number;
}

/** What one settle call carries. */
export interface Settlements {
  acks: readonly string[];
  nacks: readonly SettleNack[];
  replies: readonly ReplyWrite[];
  /** Only with a results stream; none sends no results section at all. */
  results?: readonly ResultWrite[];
}

/** Where the settle scripts write replies: the queue bound and the deployment's hash tag. */
export interface ReplyQueues {
  max: number;
  tag: string;
}

/** The keys a worker's settle and claim touch (its queue and held set are derived from its id). */
export type WorkerScriptKeys = Pick<
  Keys,
  | 'queue'
  | 'held'
  | 'inflight'
  | 'owner'
  | 'attempts'
  | 'body'
  | 'workers'
  | 'backlog'
  | 'errors'
  | 'delayed'
  | 'dlq'
  | 'totals'
>;

export interface SettleReply {
  acked: number;
  retried: number;
  deadLettered: number;
  stale: number;
  replied: number;
  repliesDeadLettered: number;
}

export interface ClaimedMessage {
  id: string;
  attempt: number;
  payload: Buffer;
  /** The previous attempt's span context (hex, tracing/attempt-link.ts), when a traced nack left one. */
  previousAttempt?: string;
}

/**
 * The ARGV tail both settle scripts share: ack ids, then (id, delayMs, error) triples, then — only
 * when there are results — the results section (includes/write-results.lua), then — only when there
 * are replies — outboundMax, tag and (id, route, tail) triples (includes/write-replies.lua).
 */
function settlementTail(
  settlements: Settlements,
  replyQueues: ReplyQueues,
  resultsStream: ResultsStream | undefined,
): ScriptArg[] {
  const tail: ScriptArg[] = [...settlements.acks];
  for (const n of settlements.nacks) tail.push(n.id, n.delayMs, n.error);
  const results = settlements.results ?? [];
  if (resultsStream && results.length > 0) {
    tail.push('results', resultsStream.key, resultsStream.maxLen, results.length);
    for (const r of results) tail.push(r.id, r.id, r.result);
  }
  if (settlements.replies.length > 0) {
    tail.push(replyQueues.max, replyQueues.tag);
    for (const r of settlements.replies) tail.push(r.id, r.route, r.tail);
  }
  return tail;
}

function claimedFrom(reply: readonly unknown[], start: number): ClaimedMessage[] {
  const claimed: ClaimedMessage[] = [];
  for (let i = start; i + 2 < reply.length; i += 3) {
    const id = reply[i];
    const attempt = reply[i + 1];
    const message: ClaimedMessage = {
      // Buffer#toString directly: String(buffer) goes through the generic ToPrimitive path (per message).
      id: typeof id === 'string' ? id : (id as Buffer).toString(),
      attempt: Number(attempt),
      payload: reply[i + 2] as Buffer,
    };
    // A number, or "<attempt>x<hex>" when the previous attempt's span context came with it.
    if (typeof attempt !== 'number') {
      const [n = '', link] = String(attempt).split('x');
      message.attempt = Number(n);
      if (link !== undefined) message.previousAttempt = link;
    }
    claimed.push(message);
  }
  return claimed;
}

export interface SettleArgs extends Settlements {
  workerId: string;
  maxAttempts: number;
  replyQueues: ReplyQueues;
  /** Where `results` go (includes/write-results.lua); without it none are written. */
  resultsStream?: ResultsStream | undefined;
}

/** settle-9.lua: one worker's acks, nacks and replies. */
export async function settle(
  client: ScriptClient,
  keys: WorkerScriptKeys,
  args: SettleArgs,
): Promise<SettleReply> {
  const reply = await client.rdSettle(
    keys.inflight,
    keys.owner,
    keys.held(args.workerId),
    keys.attempts,
    keys.body,
    keys.errors,
    keys.delayed,
    keys.dlq,
    keys.totals,
    args.workerId,
    args.maxAttempts,
    args.acks.length,
    args.nacks.length,
    ...settlementTail(args, args.replyQueues, args.resultsStream),
  );
  return settleReply(reply, 4);
}

/** The counts both settle replies open with; `repliedAt` is where the reply counts sit. */
function settleReply(reply: readonly unknown[], repliedAt: number): SettleReply {
  return {
    acked: numberAt(reply, 0),
    retried: numberAt(reply, 1),
    deadLettered: numberAt(reply, 2),
    stale: numberAt(reply, 3),
    replied: numberAt(reply, repliedAt),
    repliesDeadLettered: numberAt(reply, repliedAt + 1),
  };
}

export interface SettleClaimArgs extends SettleArgs {
  /** Most messages to claim (0 = settle only). */
  count: number;
  ackTimeoutMs: number;
  /** Id a BLMOVE wake-up rotated to the head ('' = none). */
  rotated: string;
}

export interface SettleClaimReply extends SettleReply {
  /** False: the worker was declared dead; nothing was claimed and it must re-register. */
  registered: boolean;
  claimed: ClaimedMessage[];
}

/** KEYS[1..8] of claim-8.lua, which settleClaim-12.lua opens with too: the claim half's keys. */
function claimKeys(keys: WorkerScriptKeys, workerId: string) {
  return [
    keys.queue(workerId),
    keys.inflight,
    keys.owner,
    keys.held(workerId),
    keys.attempts,
    keys.body,
    keys.workers,
    keys.backlog,
  ] as const;
}

/** settleClaim-12.lua: settle what finished, then claim up to `count` more, in ONE call. */
export async function settleClaim(
  client: ScriptClient,
  keys: WorkerScriptKeys,
  args: SettleClaimArgs,
): Promise<SettleClaimReply> {
  const reply = await client.rdSettleClaimBuffer(
    ...claimKeys(keys, args.workerId),
    keys.errors,
    keys.delayed,
    keys.dlq,
    keys.totals,
    args.workerId,
    args.count,
    args.ackTimeoutMs,
    args.rotated,
    args.maxAttempts,
    args.acks.length,
    args.nacks.length,
    ...settlementTail(args, args.replyQueues, args.resultsStream),
  );
  // The counts come first; {acked, retried, deadLettered, stale, registered, replied, repliesDead, …}.
  return { ...settleReply(reply, 5), registered: numberAt(reply, 4) === 1, claimed: claimedFrom(reply, 7) };
}

/**
 * claim-8.lua: takes and claims up to `count` messages from the worker's own queue. Throws
 * `WorkerNotRegisteredError` when the worker was declared dead. (The worker uses `settleClaim`.)
 */
export async function claim(
  client: ScriptClient,
  keys: WorkerScriptKeys,
  args: { workerId: string; count: number; ackTimeoutMs: number; rotated: string },
): Promise<ClaimedMessage[]> {
  const reply = await client.rdClaimBuffer(
    ...claimKeys(keys, args.workerId),
    args.workerId,
    args.count,
    args.ackTimeoutMs,
    args.rotated,
  );
  throwOnScriptCode(reply, { workerId: args.workerId });
  return claimedFrom(reply, 0);
}

/**
 * heartbeat-1.lua: registers `member` in a registry zset (workers or relays) or refreshes its beat;
 * `leave` marks it dead now. True when it was already registered, false when it (re)joined.
 */
export async function heartbeat(
  client: ScriptClient,
  keys: { registry: string },
  args: { member: string; action: 'beat' | 'leave' },
): Promise<boolean> {
  return (await client.rdHeartbeat(keys.registry, args.member, args.action)) === 1;
}
