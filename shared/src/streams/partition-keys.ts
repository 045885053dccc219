/**
 * The keys of one stream partition. They all share the partition's hash tag, so every streams-mode
 * script touches a single slot, and the partitions themselves spread over the cluster's masters.
 */
export interface PartitionKeys {
  readonly index: number;
  /** The hash tag, braces included: `{rd:0}`. */
  readonly tag: string;
  readonly stream: string;
  /**
   * The partition's priority stream (messages with priority 1..9), read ahead of `stream` by the same
   * consumer group. It exists only once a prioritized message reached the partition.
   */
  readonly priorityStream: string;
  readonly fence: string;
  readonly applied: string;
  readonly progress: string;
  readonly delayed: string;
  readonly delayedBody: string;
  readonly delayedAttempts: string;
  readonly errors: string;
  readonly dlq: string;
  readonly totals: string;
  /** Stream of handlers' return values `{id, result}` for this partition (REDISPATCH_RESULTS=stream). */
  readonly results: string;
  /** Prefix of publisher-id dedupe keys (one key per id, expiring with the dedupe window). */
  readonly dedupePrefix: string;
  /**
   * Prefix of the per-key limits' keys (REDISPATCH_KEY_CONCURRENCY, REDISPATCH_KEY_RATE_LIMIT): the
   * scripts add `cfg`, `c`, `b`, `d`, `due`, `w`, and `h:<key>` / `t:<key>` per affinity key
   * (lua/includes/key-gate.lua lists them).
   */
  readonly keyGate: string;
  /** `keyGate` + `b`: held message id -> body (one field per message held by a per-key limit). */
  readonly keyGateHeld: string;
  /** `keyGate` + `w`: the affinity keys with held messages. */
  readonly keyGateWaiting: string;
}

export function partitionKeys(index: number, tagName: string): PartitionKeys {
  const tag = `{${tagName}}`;
  return Object.freeze({
    index,
    tag,
    stream: `${tag}:s`,
    priorityStream: `${tag}:s:hi`,
    fence: `${tag}:fence`,
    applied: `${tag}:applied`,
    progress: `${tag}:progress`,
    delayed: `${tag}:delayed`,
    delayedBody: `${tag}:delayed-body`,
    delayedAttempts: `${tag}:delayed-attempts`,
    errors: `${tag}:errors`,
    dlq: `${tag}:dlq`,
    totals: `${tag}:totals`,
    results: `${tag}:results`,
    dedupePrefix: `${tag}:dedupe:`,
    keyGate: `${tag}:kg:`,
    keyGateHeld: `${tag}:kg:b`,
    keyGateWaiting: `${tag}:kg:w`,
  });
}
