import type { PartitionKeys } from '../../streams/partition-keys.js';
import type { Keys } from '../keys.js';
import type { ScriptArg, ScriptClient } from './script-client.js';

/** One claim to extend: what the caller holds (id or entry id, and the attempt) and by how much. */
export interface ExtendRequest {
  /** Lists: the message id; streams: the entry id. */
  ref: string;
  attempt: number;
  ms: number;
}

function triples(requests: readonly ExtendRequest[]): ScriptArg[] {
  const args: ScriptArg[] = [];
  for (const r of requests) args.push(r.ref, r.attempt, r.ms);
  return args;
}

const extendedFrom = (reply: readonly unknown[]): boolean[] => reply.map((flag) => Number(flag) === 1);

/** extend-3.lua: moves this worker's claims' deadlines to now + ms; false where it no longer owns the attempt. */
export async function extendClaims(
  client: ScriptClient,
  keys: Pick<Keys, 'inflight' | 'owner' | 'attempts'>,
  args: { workerId: string; requests: readonly ExtendRequest[] },
): Promise<boolean[]> {
  const reply = await client.rdExtend(
    keys.inflight,
    keys.owner,
    keys.attempts,
    args.workerId,
    ...triples(args.requests),
  );
  return extendedFrom(reply);
}

/**
 * streamExtend-1.lua: resets the idle time of entries this consumer still owns as the same delivery,
 * so each is reclaimed min(ms, ackTimeoutMs) from now at the earliest; false where it no longer owns it.
 */
export async function extendStreamClaims(
  client: ScriptClient,
  keys: Pick<PartitionKeys, 'stream'>,
  args: { group: string; consumer: string; ackTimeoutMs: number; requests: readonly ExtendRequest[] },
): Promise<boolean[]> {
  const reply = await client.rdStreamExtend(
    keys.stream,
    args.group,
    args.consumer,
    args.ackTimeoutMs,
    ...triples(args.requests),
  );
  return extendedFrom(reply);
}
