/**
 * Every key name of one deployment, built on one prefix wrapped in a hash tag (`{rd}:…`), so every
 * multi-key script touches one slot and the same code runs on a single Redis or a Redis Cluster.
 * No other module spells a key, with one exception: a script builds the keys it cannot know ahead
 * (per-worker, per-route, per-publisher-id) from the tag it is given, always in the tag's slot. Those
 * keys are declared here too, each naming the script that builds it; keep the two in step.
 */
export interface Keys {
  /** `{prefix}`, the hash-tagged namespace; scripts derive per-worker keys from it. */
  readonly tag: string;
  readonly epoch: string;
  readonly leader: string;
  readonly workers: string;
  readonly body: string;
  readonly attempts: string;
  readonly owner: string;
  readonly errors: string;
  readonly inflight: string;
  readonly delayed: string;
  readonly backlog: string;
  readonly dlq: string;
  readonly totals: string;
  readonly progress: string;
  /** Streams mode: the partition table (JSON list of partition hash tags), written once. */
  readonly partitions: string;
  /**
   * Hash: dispatcher id → fingerprint of the first message it heard after its subscription came back
   * (expires); the one that heard the earliest leads after every dispatcher lost its subscription.
   */
  readonly resumed: string;
  /**
   * String: fingerprint of the first message any dispatcher of the deployment heard (SET NX, kept).
   * While no progress marker exists, only a standby whose buffer holds it is caught up.
   */
  readonly firstHeard: string;
  /**
   * String: the deployment's shape (mode, partitions, format version; JSON), stamped by its first
   * process so a process of another shape refuses to join (shared/src/deployment).
   */
  readonly deployment: string;
  /**
   * Hash: process id → JSON `{ role, host, pid, metrics, seenMs, refreshMs, dispatcher? }`, refreshed
   * by every long-lived process (dispatcher, worker, relay) so `stats` can say where each one serves
   * /metrics and, for a dispatcher, its role, whether it is caught up and what it buffers.
   */
  readonly endpoints: string;
  /**
   * Stream of handlers' return values `{id, result}` (REDISPATCH_RESULTS=stream), lists mode; written
   * by the settle scripts with the ack (passed to them, never built there). Streams mode: one per
   * partition (partition-keys.ts).
   */
  readonly results: string;
  /**
   * Hash: flow control (docs/flow-control.md). `requested` and `requestSeq` are written by an admin's
   * flowRequest-1.lua; `state`, `appliedSeq` and `appliedEpoch` only by the leader's fenced flowApply-2.lua.
   */
  readonly flow: string;
  /**
   * List, lists mode: ids accepted while paused. The leader's scripts use it as their backlog while
   * paused (workers take only from the real backlog); flowApply-4.lua moves it back on resume.
   */
  readonly flowHeld: string;
  /**
   * Hash: schedule name → its spec (JSON, shared/src/admin/schedules.ts), written only by an admin's
   * scheduleEdit-3.lua (docs/flow-control.md, Schedules).
   */
  readonly schedules: string;
  /**
   * Hash: `<name>:last` (due ms of the last tick handled), `<name>:runs`, `<name>:skipped`, written by
   * the leader's fenced scheduleFire-6.lua / scheduleAdvance-3.lua; `alive` (ms), the leader's upkeep
   * mark that tells ticks missed during a failover from ticks missed while no dispatcher ran.
   */
  readonly scheduleState: string;
  /** String: bumped by every schedule add/remove, so the leader re-reads the schedules on its upkeep. */
  readonly schedulesVersion: string;
  /**
   * Per-key limits, lists mode (docs/flow-control.md, Per-key limits; shared/src/redis/lua/includes/list-key-gate.lua).
   * Hash: concurrency, rate, burst, hold — the limits as the leader's fenced keyRelease-4.lua last stored
   * them; the batch, settle, reap and dlq scripts read them (building the name from the tag).
   */
  readonly keyLimits: string;
  /** Hash: id -> '+'..key (holds a slot of its key) or '-'..key (holds none), for gated messages only. */
  readonly keyOf: string;
  /** Hash: affinity key -> slots taken (admitted, not yet acked or dead-lettered). */
  readonly keyBusy: string;
  /** zset: affinity key with held messages -> when the leader looks at it (ms; 1e15: waits for a settle). */
  readonly keyWait: string;
  /** list: one affinity key's held messages, oldest first (built by the scripts from the tag). */
  keyHeld(key: string): string;
  /** Hash: one affinity key's token bucket (tokens, tokensAt), expiring once full (built by the scripts). */
  keyBucket(key: string): string;
  /** The Redlock resource on the lock masters. */
  readonly leaseLock: string;
  /** Pub/sub channel on which a resigning leader tells standbys to run for election now. */
  readonly controlChannel: string;
  /** list: one worker's queue (also built by reap-11.lua). */
  queue(workerId: string): string;
  /** set: the ids one worker holds (also built by reap-11.lua). */
  held(workerId: string): string;
  /**
   * String (expires with the dedupe window): the id a publisher id was accepted as. Built only by
   * dispatchBatch-10+.lua (from ARGV tag), never by TypeScript; declared so no one else claims the name.
   */
  dedupe(publisherId: string): string;
  /** zset relay id -> last heartbeat (server ms). */
  readonly relays: string;
  /** list of outbound entries that could not be delivered, each with its reason. */
  readonly outboundDead: string;
  /** list of replies for one route (`relay:<id>` or `http`, see outboundRoute); newest at the head. */
  outbound(route: string): string;
  /** list of entries `consumerId` took from `route` and has not finished (delivered or dead-lettered). */
  outboundProcessing(route: string, consumerId: string): string;
  /** hash session id -> detached-at ms (0 = attached) of one relay, so a restart can resume them. */
  relaySessions(relayId: string): string;
}

export function createKeys(prefix: string): Keys {
  const tag = `{${prefix}}`;
  return Object.freeze({
    tag,
    epoch: `${tag}:epoch`,
    leader: `${tag}:leader`,
    workers: `${tag}:workers`,
    body: `${tag}:body`,
    attempts: `${tag}:attempts`,
    owner: `${tag}:owner`,
    errors: `${tag}:errors`,
    inflight: `${tag}:inflight`,
    delayed: `${tag}:delayed`,
    backlog: `${tag}:backlog`,
    dlq: `${tag}:dlq`,
    totals: `${tag}:totals`,
    progress: `${tag}:progress`,
    partitions: `${tag}:partitions`,
    resumed: `${tag}:resumed`,
    firstHeard: `${tag}:first-heard`,
    deployment: `${tag}:deployment`,
    endpoints: `${tag}:endpoints`,
    results: `${tag}:results`,
    flow: `${tag}:flow`,
    flowHeld: `${tag}:flow-held`,
    schedules: `${tag}:schedules`,
    scheduleState: `${tag}:schedule-state`,
    schedulesVersion: `${tag}:schedules-version`,
    keyLimits: `${tag}:key-limits`,
    keyOf: `${tag}:key-of`,
    keyBusy: `${tag}:key-busy`,
    keyWait: `${tag}:key-wait`,
    // The gating scripts build these same names from the tag (includes/list-key-gate.lua); keep them in step.
    keyHeld: (key: string) => `${tag}:key-held:${key}`,
    keyBucket: (key: string) => `${tag}:key-bucket:${key}`,
    leaseLock: `${tag}:lease`,
    controlChannel: `${prefix}:control`,
    queue: (workerId: string) => `${tag}:q:${workerId}`,
    held: (workerId: string) => `${tag}:held:${workerId}`,
    dedupe: (publisherId: string) => `${tag}:dedupe:${publisherId}`,
    // The settle and relay-sweep scripts build these same names from the tag; keep them in step.
    relays: `${tag}:relays`,
    outboundDead: `${tag}:out-dlq`,
    outbound: (route: string) => `${tag}:out:${route}`,
    outboundProcessing: (route: string, consumerId: string) =>
      route === 'http' ? `${tag}:outp:http:${consumerId}` : `${tag}:outp:${route}`,
    relaySessions: (relayId: string) => `${tag}:relay-sessions:${relayId}`,
  });
}
