import type { PartitionKeys } from '../../streams/partition-keys.js';
import type { ResultsStream } from './lists-worker-calls.js';
import { numberAt, type ScriptArg, type ScriptClient } from './script-client.js';

/** A handler's return value for the partition's results stream, written with the entry's ack. */
export interface StreamResultWrite {
  entryId: string;
  messageId: string;
  result: Buffer;
}

/** A nack of one stream entry; an error may carry the handler's stack after a NUL byte. */
export interface StreamNack {
  entryId: string;
  messageId: string;
  attempt: number;
  delayMs: number;
  error: string;
}

export interface StreamSettleReply {
  acked: number;
  retried: number;
  deadLettered: number;
  stale: number;
}

/** streamSettle-7.lua: one worker's acks and nacks for one partition's stream (or its priority stream). */
export async function streamSettle(
  client: ScriptClient,
  keys: PartitionKeys,
  args: {
    group: string;
    consumer: string;
    maxAttempts: number;
    acks: readonly string[];
    nacks: readonly StreamNack[];
    /** Written only for entries this call acks, and only with `resultsStream`. */
    results?: readonly StreamResultWrite[];
    resultsStream?: ResultsStream | undefined;
  },
): Promise<StreamSettleReply> {
  const nacks: ScriptArg[] = [];
  for (const n of args.nacks) nacks.push(n.entryId, n.messageId, n.attempt, n.delayMs, n.error);
  const results = args.results ?? [];
  if (args.resultsStream && results.length > 0) {
    nacks.push('results', args.resultsStream.key, args.resultsStream.maxLen, results.length);
    for (const r of results) nacks.push(r.entryId, r.messageId, r.result);
  }
  const reply = await client.rdStreamSettle(
    keys.stream,
    keys.delayed,
    keys.delayedBody,
    keys.delayedAttempts,
    keys.errors,
    keys.dlq,
    keys.totals,
    args.group,
    args.consumer,
    args.maxAttempts,
    args.acks.length,
    args.nacks.length,
    ...args.acks,
    ...nacks,
  );
  return {
    acked: numberAt(reply, 0),
    retried: numberAt(reply, 1),
    deadLettered: numberAt(reply, 2),
    stale: numberAt(reply, 3),
  };
}

export interface ReclaimedEntry {
  entryId: string;
  messageId: string;
  attempt: number;
  payload: Buffer;
}

/**
 * streamReclaim-4.lua: takes over entries of one partition's stream (`keys.stream`: the partition
 * stream, or its priority stream) idle past the ack timeout. `prioritized`: the partition's priority
 * stream exists (a worker reads it from then on).
 */
export async function streamReclaim(
  client: ScriptClient,
  keys: Pick<PartitionKeys, 'stream' | 'priorityStream' | 'dlq' | 'totals'>,
  args: { group: string; consumer: string; minIdleMs: number; count: number; maxAttempts: number },
): Promise<{
  prioritized: boolean;
  deadLettered: number;
  deletedWhilePending: number;
  entries: ReclaimedEntry[];
}> {
  const reply = await client.rdStreamReclaimBuffer(
    keys.stream,
    keys.dlq,
    keys.totals,
    keys.priorityStream,
    args.group,
    args.consumer,
    args.minIdleMs,
    '0-0',
    args.count,
    args.maxAttempts,
  );
  const entries: ReclaimedEntry[] = [];
  for (let i = 3; i + 3 < reply.length; i += 4) {
    entries.push({
      entryId: String(reply[i]),
      messageId: String(reply[i + 1]),
      attempt: Number(reply[i + 2]),
      payload: reply[i + 3] as Buffer,
    });
  }
  return {
    prioritized: numberAt(reply, 0) === 1,
    deadLettered: numberAt(reply, 1),
    deletedWhilePending: numberAt(reply, 2),
    entries,
  };
}
