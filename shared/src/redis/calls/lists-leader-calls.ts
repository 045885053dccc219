import type { Keys } from '../keys.js';
import { throwOnScriptCode } from '../script-code.js';
import { numberAt, type ScriptArg, type ScriptClient } from './script-client.js';

/**
 * A new message for dispatchBatch: placement '' (route now), 'd<ms>', 'D<epochMs>' or 'q<index>',
 * then, only for a message with per-message options, '|' + 'a<maxAttempts>' and/or 'p<priority>', then,
 * only while a per-key limit is set and the message has an affinity key, NUL + the key (list-key-gate.lua).
 */
export interface NewMessage {
  id: string;
  payload: Buffer;
  /** The id the leader dedupes by (`dedupeId`): '' for none; bytes when namespaced. */
  publisherId: string | Buffer;
  placement: string;
}

/** A message rejected before routing, dead-lettered with its reason. */
export interface RejectedMessage {
  id: string;
  payload: Buffer;
  reason: string;
}

export interface DispatchBatchArgs {
  epoch: number;
  highWater: number;
  /** 1-based index into `workers` to start round-robin at. */
  roundRobinStart: number;
  progress: string;
  workerTtlMs: number;
  routing: 'round-robin' | 'least-loaded';
  dedupeWindowMs: number;
  /** The workers the leader believes live, in round-robin order; one queue key each. */
  workers: readonly string[];
  messages: readonly NewMessage[];
  rejected: readonly RejectedMessage[];
}

export interface DispatchBatchReply {
  routed: number;
  backlogged: number;
  roundRobinNext: number;
  accepted: number;
  duplicates: number;
  deadLettered: number;
  delayed: number;
  deduplicated: number;
  /** Held back by a per-key limit (REDISPATCH_KEY_CONCURRENCY / REDISPATCH_KEY_RATE_LIMIT). */
  keyHeldConcurrency: number;
  keyHeldRate: number;
}

/** dispatchBatch-10+.lua: the leader's fenced batch write. Throws `FencedError` on a stale epoch. */
export async function dispatchBatch(
  client: ScriptClient,
  keys: Keys,
  args: DispatchBatchArgs,
): Promise<DispatchBatchReply> {
  const fixedKeys = [
    keys.epoch,
    keys.body,
    keys.backlog,
    keys.totals,
    keys.dlq,
    keys.errors,
    keys.progress,
    keys.workers,
    keys.delayed,
    keys.attempts,
  ];
  const queueKeys = args.workers.map((id) => keys.queue(id));
  const tail: ScriptArg[] = [];
  for (const m of args.messages) tail.push(m.id, m.payload, m.publisherId, m.placement);
  for (const r of args.rejected) tail.push(r.id, r.payload, r.reason);
  const reply = await client.rdDispatchBatch(
    fixedKeys.length + queueKeys.length,
    ...fixedKeys,
    ...queueKeys,
    String(args.epoch),
    args.highWater,
    args.roundRobinStart,
    args.messages.length,
    args.rejected.length,
    args.progress,
    args.workerTtlMs,
    args.routing,
    args.dedupeWindowMs,
    keys.tag,
    ...args.workers,
    ...tail,
  );
  throwOnScriptCode(reply, { epoch: args.epoch });
  return {
    routed: numberAt(reply, 0),
    backlogged: numberAt(reply, 1),
    roundRobinNext: Number(reply[2] ?? 1),
    accepted: numberAt(reply, 3),
    duplicates: numberAt(reply, 4),
    deadLettered: numberAt(reply, 5),
    delayed: numberAt(reply, 6),
    deduplicated: numberAt(reply, 7),
    keyHeldConcurrency: numberAt(reply, 8),
    keyHeldRate: numberAt(reply, 9),
  };
}

export interface ReapArgs {
  epoch: number;
  workerTtlMs: number;
  maxAttempts: number;
  /** Most entries of each kind handled per call. */
  limit: number;
}

export interface ReapReply {
  deadWorkers: number;
  timedOut: number;
  workerLost: number;
  deadLettered: number;
  promoted: number;
  backlog: number;
  inflight: number;
  delayed: number;
  deadLetters: number;
  nowMs: number;
  /** -1 when nothing is in flight. */
  earliestDeadline: number;
  /** Due delayed messages a per-key limit held back in their key's list. */
  keyHeldConcurrency: number;
  keyHeldRate: number;
  liveWorkers: { id: string; queued: number }[];
}

/** reap-11.lua: the leader's reaper tick. Throws `FencedError` on a stale epoch. */
export async function reap(client: ScriptClient, keys: Keys, args: ReapArgs): Promise<ReapReply> {
  const reply = await client.rdReap(
    keys.epoch,
    keys.workers,
    keys.inflight,
    keys.delayed,
    keys.backlog,
    keys.owner,
    keys.attempts,
    keys.errors,
    keys.dlq,
    keys.totals,
    keys.body,
    String(args.epoch),
    args.workerTtlMs,
    args.maxAttempts,
    args.limit,
    keys.tag,
  );
  throwOnScriptCode(reply, { epoch: args.epoch });
  const liveWorkers: { id: string; queued: number }[] = [];
  for (let i = 13; i + 1 < reply.length; i += 2) {
    liveWorkers.push({ id: String(reply[i]), queued: Number(reply[i + 1]) });
  }
  const n = (index: number) => numberAt(reply, index);
  return {
    deadWorkers: n(0),
    timedOut: n(1),
    workerLost: n(2),
    deadLettered: n(3),
    promoted: n(4),
    backlog: n(5),
    inflight: n(6),
    delayed: n(7),
    deadLetters: n(8),
    nowMs: n(9),
    earliestDeadline: n(10),
    keyHeldConcurrency: n(11),
    keyHeldRate: n(12),
    liveWorkers,
  };
}
