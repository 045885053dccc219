import { type FlowRequest, flowRequest } from '../redis/calls/flow-calls.js';
import type { DataClient } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';

/** The flow hash as `stats` and `pause` read it. */
export interface FlowStatus {
  /** What an admin last asked for ('running' when nobody ever asked). */
  requested: FlowRequest;
  /** What a leader applied (and the current leader obeys); 'running' when none applied anything yet. */
  state: FlowRequest;
  requestSeq: number;
  appliedSeq: number;
  /** The epoch of the leader that applied it (0 = none). */
  appliedEpoch: number;
}

export async function readFlow(client: DataClient, keys: Pick<Keys, 'flow'>): Promise<FlowStatus> {
  const hash = await client.hgetall(keys.flow);
  const asState = (value: string | undefined): FlowRequest => (value === 'paused' ? 'paused' : 'running');
  return {
    requested: asState(hash.requested),
    state: asState(hash.state),
    requestSeq: Number(hash.requestSeq ?? 0),
    appliedSeq: Number(hash.appliedSeq ?? 0),
    appliedEpoch: Number(hash.appliedEpoch ?? 0),
  };
}

/** What a pause or resume request came to. */
export interface FlowRequestOutcome {
  seq: number;
  /** True once a leader applied this request (or a later one) within the wait. */
  applied: boolean;
  status: FlowStatus;
}

/**
 * Records a pause/resume request and waits (polling) up to `waitMs` for a leader to apply it — the
 * leader applies it at its next upkeep (REDISPATCH_REAP_INTERVAL_MS). Once applied, the leader routes
 * by it (nothing more is handed to workers after a pause is applied). Without a leader it stays
 * requested and the next leader applies it before its first write. No control-channel message: the
 * admin user may not publish there (a forged `resigned` would start elections).
 */
export async function requestFlow(
  client: DataClient,
  keys: Pick<Keys, 'flow'>,
  requested: FlowRequest,
  waitMs: number,
): Promise<FlowRequestOutcome> {
  const seq = await flowRequest(client, keys, { requested });
  const deadline = Date.now() + waitMs;
  for (;;) {
    const status = await readFlow(client, keys);
    if (status.appliedSeq >= seq) return { seq, applied: true, status };
    if (Date.now() >= deadline) return { seq, applied: false, status };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
