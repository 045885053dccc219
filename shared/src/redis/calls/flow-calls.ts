import type { Keys } from '../keys.js';
import { assertNotFenced } from '../script-code.js';
import type { ScriptClient } from './script-client.js';
import { numberAt } from './script-client.js';

/** What routing obeys: paused or running. */
export type FlowRequest = 'paused' | 'running';

/** flowRequest-1.lua: records an admin's pause or resume request; returns its sequence number. */
export function flowRequest(
  client: ScriptClient,
  keys: Pick<Keys, 'flow'>,
  args: { requested: FlowRequest },
): Promise<number> {
  return client.rdFlowRequest(keys.flow, args.requested);
}

/** The flow state a leader applied and now obeys. */
export interface AppliedFlow {
  paused: boolean;
  /** The request sequence number applied (0 when nobody ever asked). */
  appliedSeq: number;
  /** Lists mode: ids still in the held list (while paused, or left to move back after a resume). */
  held: number;
}

/** flowApply-4.lua: the leader applies the requested state, fenced (FencedError when superseded). */
export async function flowApply(
  client: ScriptClient,
  keys: Pick<Keys, 'epoch' | 'flow' | 'flowHeld' | 'backlog'>,
  args: { epoch: number; limit: number },
): Promise<AppliedFlow> {
  const reply = await client.rdFlowApply(
    keys.epoch,
    keys.flow,
    keys.flowHeld,
    keys.backlog,
    args.epoch,
    args.limit,
  );
  assertNotFenced(reply, args.epoch);
  return { paused: numberAt(reply, 0) === 1, appliedSeq: numberAt(reply, 1), held: numberAt(reply, 2) };
}

/** The cluster-wide rate limit: tokens per second and the bucket size. */
export interface RateLimit {
  rate: number;
  burst: number;
}

/** flowRelease-4.lua (lists): moves up to the bucket's tokens of held ids into the backlog, fenced. */
export async function flowRelease(
  client: ScriptClient,
  keys: Pick<Keys, 'epoch' | 'flow' | 'flowHeld' | 'backlog'>,
  args: RateLimit & { epoch: number; limit: number },
): Promise<{ released: number; held: number; waitMs: number }> {
  const reply = await client.rdFlowRelease(
    keys.epoch,
    keys.flow,
    keys.flowHeld,
    keys.backlog,
    args.epoch,
    args.rate,
    args.burst,
    args.limit,
  );
  assertNotFenced(reply, args.epoch);
  return { released: numberAt(reply, 0), held: numberAt(reply, 1), waitMs: numberAt(reply, 2) };
}

/** flowTake-2.lua (streams): takes up to `want` tokens after returning `refund`, fenced. */
export async function flowTake(
  client: ScriptClient,
  keys: Pick<Keys, 'epoch' | 'flow'>,
  args: RateLimit & { epoch: number; want: number; refund: number },
): Promise<{ granted: number; waitMs: number }> {
  const reply = await client.rdFlowTake(
    keys.epoch,
    keys.flow,
    args.epoch,
    args.rate,
    args.burst,
    args.want,
    args.refund,
  );
  assertNotFenced(reply, args.epoch);
  return { granted: numberAt(reply, 0), waitMs: numberAt(reply, 1) };
}
