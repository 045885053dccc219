import type { Keys } from '../keys.js';
import { assertNotFenced } from '../script-code.js';
import type { ScriptClient } from './script-client.js';
import { numberAt } from './script-client.js';

/** The per-key limits a lists-mode leader applies (docs/flow-control.md, Per-key limits). */
export interface KeyLimits {
  /** REDISPATCH_KEY_CONCURRENCY: most messages of one key in flight (0 = none). */
  concurrency: number;
  /** REDISPATCH_KEY_RATE_LIMIT: messages per second per key (0 = none). */
  rate: number;
  /** The per-key bucket size (REDISPATCH_KEY_RATE_BURST, resolved: at least 1). */
  burst: number;
}

export interface KeyReleaseArgs extends KeyLimits {
  epoch: number;
  /** A cluster-wide rate limit holds routing: a settle's release goes to the held list. */
  hold: boolean;
  limit: number;
  /** 'due': keys whose next token is due; 'all': every waiting key (on takeover). */
  mode: 'due' | 'all';
  /** Where a settle sends a key's next message: a live worker's queue below this length… */
  highWater: number;
  workerTtlMs: number;
  /** …or, with affinity routing, the settling worker's own queue. */
  sticky: boolean;
}

export interface KeyReleaseReply {
  admitted: number;
  /** Affinity keys with held messages. */
  keysWaiting: number;
  /** Ms until the next waiting key's token is due; -1 when none waits for a token. */
  waitMs: number;
  /** A limit was hit: call again at once. */
  more: boolean;
}

/**
 * keyRelease-4.lua (lists): stores the leader's per-key limits and lets waiting keys' held messages
 * into `keys.backlog` (pass the held list while the leader holds routing), fenced.
 */
export async function keyRelease(
  client: ScriptClient,
  keys: Pick<Keys, 'epoch' | 'keyLimits' | 'keyWait' | 'backlog' | 'tag'>,
  args: KeyReleaseArgs,
): Promise<KeyReleaseReply> {
  const reply = await client.rdKeyRelease(
    keys.epoch,
    keys.keyLimits,
    keys.keyWait,
    keys.backlog,
    args.epoch,
    args.concurrency,
    String(args.rate),
    args.burst,
    args.hold ? '1' : '0',
    args.limit,
    args.mode,
    keys.tag,
    args.highWater,
    args.workerTtlMs,
    args.sticky ? '1' : '0',
  );
  assertNotFenced(reply, args.epoch);
  return {
    admitted: numberAt(reply, 0),
    keysWaiting: numberAt(reply, 1),
    waitMs: numberAt(reply, 2),
    more: numberAt(reply, 3) === 1,
  };
}
