import type { PartitionKeys } from '../../streams/partition-keys.js';
import type { Keys } from '../keys.js';
import { ScriptCode, scriptCodeOf, throwOnScriptCode } from '../script-code.js';
import type { NewMessage, RejectedMessage } from './lists-leader-calls.js';
import { numberAt, type ScriptArg, type ScriptClient } from './script-client.js';

/**
 * The outcome of raising one partition's fence: raised to the new epoch, or refused because the fence
 * already holds `current` (this epoch or a newer one). Not an error: the caller raises its epoch past it.
 */
export type FenceOutcome = { raised: true } | { raised: false; current: number };

/** streamFence-2.lua: raises one partition's fence to `epoch` and makes sure the group exists. */
export async function streamFence(
  client: ScriptClient,
  keys: Pick<PartitionKeys, 'fence' | 'stream'>,
  args: { epoch: number; group: string },
): Promise<FenceOutcome> {
  const reply = await client.rdStreamFence(keys.fence, keys.stream, args.epoch, args.group);
  return scriptCodeOf(reply) === ScriptCode.Fenced
    ? { raised: false, current: Number(reply[1]) }
    : { raised: true };
}

export interface StreamAppendArgs {
  epoch: number;
  /** "<epoch>:<seq>", unique per batch. */
  batchTag: string;
  progress: string;
  group: string;
  dedupeWindowMs: number;
  messages: readonly NewMessage[];
  rejected: readonly RejectedMessage[];
  /** Per-key limits (absent when off: nothing is added to the call). */
  gate?: StreamGate | undefined;
}

/** The per-key limits as the leader applies them, and each new message's affinity key ('' = none). */
export interface StreamGate {
  concurrency: number;
  rate: number;
  burst: number;
  /** One per message of `messages`, in order. */
  keys: readonly string[];
}

export interface StreamAppendReply {
  appended: number;
  delayed: number;
  deadLettered: number;
  deduplicated: number;
  /** True: this batch was already written (a retry whose first reply was lost). */
  alreadyApplied: boolean;
  /** Accepted but held back in Redis by the per-key concurrency / rate limit. */
  heldByConcurrency: number;
  heldByRate: number;
}

/** streamAppend-10.lua: the leader's fenced batch write into one partition. Throws `FencedError`. */
export async function streamAppend(
  client: ScriptClient,
  keys: PartitionKeys,
  args: StreamAppendArgs,
): Promise<StreamAppendReply> {
  const tail: ScriptArg[] = [];
  for (const m of args.messages) tail.push(m.id, m.payload, m.publisherId, m.placement);
  for (const r of args.rejected) tail.push(r.id, r.payload, r.reason);
  const gate = args.gate;
  if (gate) tail.push('gate', keys.keyGate, gate.concurrency, gate.rate, gate.burst, ...gate.keys);
  const reply = await client.rdStreamAppend(
    keys.fence,
    keys.stream,
    keys.applied,
    keys.progress,
    keys.delayed,
    keys.delayedBody,
    keys.dlq,
    keys.totals,
    keys.delayedAttempts,
    keys.priorityStream,
    String(args.epoch),
    args.batchTag,
    args.progress,
    args.group,
    args.dedupeWindowMs,
    keys.dedupePrefix,
    args.messages.length,
    args.rejected.length,
    ...tail,
  );
  throwOnScriptCode(reply, { epoch: args.epoch });
  return {
    appended: numberAt(reply, 0),
    delayed: numberAt(reply, 1),
    deadLettered: numberAt(reply, 2),
    deduplicated: numberAt(reply, 3),
    alreadyApplied: numberAt(reply, 4) === 1,
    heldByConcurrency: reply.length > 5 ? numberAt(reply, 5) : 0,
    heldByRate: reply.length > 6 ? numberAt(reply, 6) : 0,
  };
}

export interface StreamMaintainReply {
  promoted: number;
  trimmed: number;
  consumersRemoved: number;
  length: number;
  pending: number;
  /** Redis's lag; -1 when it cannot tell. */
  undelivered: number;
  delayed: number;
  deadLetters: number;
  nowMs: number;
  /** -1 when nothing is pending. */
  oldestPendingMs: number;
  /** Per-key limits on: keys with held messages; due messages held back by each limit. */
  keysWaiting: number;
  heldByConcurrency: number;
  heldByRate: number;
}

/** streamMaintain-8.lua: the leader's upkeep of one partition. Throws `FencedError`. */
export async function streamMaintain(
  client: ScriptClient,
  keys: PartitionKeys,
  args: {
    epoch: number;
    group: string;
    promoteLimit: number;
    liveWorkers: readonly string[];
    /** Per-key limits are on: due keyed messages enter their key's gate. */
    gated?: boolean;
  },
): Promise<StreamMaintainReply> {
  const reply = await client.rdStreamMaintain(
    keys.fence,
    keys.stream,
    keys.delayed,
    keys.delayedBody,
    keys.delayedAttempts,
    keys.dlq,
    keys.errors,
    keys.priorityStream,
    String(args.epoch),
    args.group,
    args.promoteLimit,
    args.gated ? keys.keyGate : '',
    ...args.liveWorkers,
  );
  throwOnScriptCode(reply, { epoch: args.epoch });
  const n = (i: number) => numberAt(reply, i);
  return {
    promoted: n(0),
    trimmed: n(1),
    consumersRemoved: n(2),
    length: n(3),
    pending: n(4),
    undelivered: n(5),
    delayed: n(6),
    deadLetters: n(7),
    nowMs: n(8),
    oldestPendingMs: n(9),
    keysWaiting: n(10),
    heldByConcurrency: n(11),
    heldByRate: n(12),
  };
}

export interface StreamKeyReleaseReply {
  released: number;
  /** Ms until the partition's next key is due; -1 when none waits for a token. */
  waitMs: number;
  keysWaiting: number;
  /** More keys were due (or, 'all' / 'drain', more of the page is left) than one call takes. */
  more: boolean;
  /** 'all' / 'drain': the SSCAN cursor to continue from ('0' = the scan is complete). */
  cursor: string;
}

/**
 * streamKeyRelease-2.lua: the leader appends held messages — 'due': of the keys whose next token is due;
 * 'all' (takeover): of a page of the waiting keys, as their limits allow now; 'drain' (both limits off):
 * of a page of the waiting keys, without a slot. Throws `FencedError`.
 */
export async function streamKeyRelease(
  client: ScriptClient,
  keys: Pick<PartitionKeys, 'fence' | 'stream' | 'keyGate'>,
  args: {
    epoch: number;
    keyLimit: number;
    scan?: {
      mode: 'all' | 'drain';
      concurrency: number;
      rate: number;
      burst: number;
      cursor: string;
      /** Routing is paused: only store the limits, marked paused (a settle then lets nothing out). */
      paused?: boolean;
    };
  },
): Promise<StreamKeyReleaseReply> {
  const scan = args.scan;
  const tail = scan
    ? [scan.mode, scan.concurrency, scan.rate, scan.burst, scan.cursor, scan.paused ? '1' : '0']
    : [];
  const reply = await client.rdStreamKeyRelease(
    keys.fence,
    keys.stream,
    String(args.epoch),
    keys.keyGate,
    args.keyLimit,
    ...tail,
  );
  throwOnScriptCode(reply, { epoch: args.epoch });
  return {
    released: numberAt(reply, 0),
    waitMs: numberAt(reply, 1),
    keysWaiting: numberAt(reply, 2),
    more: numberAt(reply, 3) === 1,
    cursor: String(reply[4] ?? '0'),
  };
}

/** liveWorkers-1.lua: the workers whose heartbeat is within the TTL (dropping long-silent ones). */
export async function liveWorkers(
  client: ScriptClient,
  keys: Pick<Keys, 'workers'>,
  args: { ttlMs: number },
): Promise<{ nowMs: number; removed: number; workers: { id: string; beatMs: number }[] }> {
  const reply = await client.rdLiveWorkers(keys.workers, args.ttlMs);
  const workers: { id: string; beatMs: number }[] = [];
  for (let i = 2; i + 1 < reply.length; i += 2)
    workers.push({ id: String(reply[i]), beatMs: Number(reply[i + 1]) });
  return { nowMs: numberAt(reply, 0), removed: numberAt(reply, 1), workers };
}
