import { createHash } from 'node:crypto';
import { createKeys } from '../redis/keys.js';
import {
  ADMIN_COMMANDS,
  CLUSTER,
  CONNECT,
  DISPATCHER_COMMANDS,
  REDLOCK,
  RELAY_COMMANDS,
  SCRIPTS,
  STREAM_ADMIN_COMMANDS,
  STREAM_DISPATCHER_COMMANDS,
  STREAM_WORKER_COMMANDS,
  WORKER_COMMANDS,
} from './acl-commands.js';
import {
  deploymentRules,
  endpointSelector,
  everyDeploymentKey,
  everyPartitionKey,
  isPartitionTag,
  partitionDeadLetterKey,
  partitionStreamKey,
  relayKeys,
  resultsKey,
  streamWorkerKeys,
  workerKeys,
} from './acl-keys.js';

/**
 * Least-privilege Redis ACL rules for each role, derived from what the code actually sends (the
 * commands inside our Lua scripts count too: Redis checks a script's `redis.call`s against the
 * caller's ACL). Printed by `scripts/acl.mjs`; tested against a real Redis in dispatcher/test/acl.test.ts
 * (lists mode), dispatcher/test/acl-streams.test.ts (streams mode on a Redis Cluster, every node
 * loading the same users) and dispatcher/test/relay/acl-relay.test.ts (the relay).
 *
 * - `dispatcher`: the data Redis. Leader scripts (lists: dispatchBatch, reap; streams: streamFence,
 *   streamAppend, streamMaintain, liveWorkers; both: elect, resign), GET of the progress marker(s),
 *   the gap bookkeeping hash (MULTI/HSET/PEXPIRE, HGETALL), SUBSCRIBE to the ingress channel and the
 *   control channel, PUBLISH to the control channel only, and Redlock's scripts when the data Redis
 *   (or, in streams mode, the cluster) is also the lock master. Streams mode adds WAIT
 *   (REDISPATCH_WAIT_REPLICAS) and the partition keys `{prefix:<n>…}:*`.
 * - `lock`: a dedicated Redlock master: Redlock's acquire/extend/release scripts on `{prefix}:lease` only.
 * - `worker`: lists: claim/settle/heartbeat scripts and the BLMOVE wake-up, on the message keys only.
 *   Both: XADD into the results stream(s) only (a selector), the extend script of its mode.
 *   Streams: XREADGROUP, XGROUP CREATE, the streamSettle/streamReclaim/heartbeat/outboundWrite
 *   scripts; XADD only into the partitions' dead-letter streams (a selector), never into a partition
 *   stream unless generated for REDISPATCH_KEY_CONCURRENCY (`keyConcurrency`: the settle appends a
 *   key's next held message); the partition table read-only. Neither mode: epoch, leader record, fences, progress
 *   markers, dedupe keys, lease, pub/sub.
 * - `admin`: `stats`, `dlq list|replay|purge` and `outbound-dlq list|purge`: reads, the DLQ scripts,
 *   and DEL of the outbound dead-letter list only; `results tail`: XREAD of the results stream(s).
 * - `publisher`: PUBLISH to the ingress channel, nothing else (`redispatch publish` and producers).
 * - `relay`: `redispatch relay`: its registry heartbeat and sweep, the outbound queues of relays and
 *   of HTTP deliveries (take, settle, give back, BLMOVE), the relay-sessions hashes, the outbound
 *   dead-letter list, and PUBLISH of inbound frames to the ingress channel. No worker queue, no
 *   message state, no dispatcher key.
 *
 * Every role but lock and publisher reads the deployment stamp `{prefix}:deployment` at start (and
 * EXISTS on the partition table, epoch and worker registry, whence an unstamped earlier deployment's
 * mode is read); dispatcher and worker may also SET it (NX), as the first process stamps it.
 *
 * Streams mode (a Redis Cluster) gives every role the topology commands ioredis's Cluster client
 * sends (CLUSTER SLOTS to map slots, CLUSTER INFO as its ready check, ASKING on a redirect while a
 * slot migrates, READONLY/READWRITE when a node changes role): none of them reads or writes a key.
 */
export type AclRole = 'dispatcher' | 'lock' | 'worker' | 'admin' | 'publisher' | 'relay';

export const ACL_ROLES: readonly AclRole[] = ['dispatcher', 'lock', 'worker', 'admin', 'publisher', 'relay'];

/** REDISPATCH_MODE: which data structures (and so which commands and keys) the roles use. */
export type AclMode = 'lists' | 'streams';

export interface AclOptions {
  /** REDISPATCH_PREFIX */
  prefix: string;
  /** REDISPATCH_CHANNEL (the ingress channel publishers PUBLISH to) */
  channel: string;
  /** REDISPATCH_MODE; lists by default. */
  mode?: AclMode;
  /**
   * Streams mode: the stored partition table's tags (`GET {prefix}:partitions`), so the partition
   * patterns name exactly this deployment's partitions. Without them, a glob that also matches a
   * deployment whose prefix extends this one with `:<digit>`.
   */
  partitionTags?: readonly string[];
  /**
   * Streams mode with REDISPATCH_KEY_CONCURRENCY: a worker's settle appends a key's next held message
   * to the partition stream, so the worker user may XADD there (`scripts/acl.mjs --key-concurrency`).
   */
  keyConcurrency?: boolean;
}

const unique = (items: string[]) => [...new Set(items)];

/** The ACL rules (without user name and password) for one role. */
export function aclRules(role: AclRole, options: AclOptions): string[] {
  const rules = options.mode === 'streams' ? streamRules(role, options) : listRules(role, options);
  if (role === 'lock' || role === 'publisher') return rules;
  return [...rules, ...deploymentRules(options.prefix, role === 'dispatcher' || role === 'worker')];
}

function listRules(role: AclRole, options: AclOptions): string[] {
  const k = createKeys(options.prefix);
  const everyKey = everyDeploymentKey(options.prefix);
  switch (role) {
    case 'dispatcher':
      return [
        everyKey,
        `&${options.channel}`,
        `&${k.controlChannel}`,
        ...unique([...CONNECT, ...SCRIPTS, ...DISPATCHER_COMMANDS, ...REDLOCK, '+subscribe', '+unsubscribe']),
        // A selector: PUBLISH is allowed on the control channel only, so a dispatcher cannot inject
        // into the ingress channel although it may subscribe to it (channel rules alone cannot tell
        // PUBLISH from SUBSCRIBE).
        `(+publish &${k.controlChannel})`,
        endpointSelector(options.prefix),
      ];
    case 'lock':
      return [`~${k.leaseLock}`, ...CONNECT, ...SCRIPTS, ...REDLOCK];
    case 'worker':
      return [
        ...workerKeys(options.prefix),
        ...CONNECT,
        ...SCRIPTS,
        ...WORKER_COMMANDS,
        // The settle scripts' results stream: the only XADD a worker may send in lists mode.
        `(+xadd ${resultsKey(options.prefix, 'lists')})`,
        endpointSelector(options.prefix),
      ];
    case 'admin':
      return [
        everyKey,
        ...CONNECT,
        ...SCRIPTS,
        ...ADMIN_COMMANDS,
        `(+del +lrem ~${k.outboundDead})`,
        // `results tail`: reads the results stream only.
        `(+xread +xrevrange ${resultsKey(options.prefix, 'lists')})`,
        ...flowRequestSelectors(k),
      ];
    case 'publisher':
      return [`&${options.channel}`, ...CONNECT, '+publish'];
    case 'relay':
      return [
        ...relayKeys(options.prefix),
        `&${options.channel}`,
        ...CONNECT,
        ...SCRIPTS,
        ...RELAY_COMMANDS,
        '+publish',
        endpointSelector(options.prefix),
      ];
  }
}

function streamRules(role: AclRole, options: AclOptions): string[] {
  const k = createKeys(options.prefix);
  const everyKey = everyDeploymentKey(options.prefix);
  const tags = options.partitionTags;
  if (tags !== undefined) {
    const bad = tags.find((tag) => !isPartitionTag(options.prefix, tag));
    if (bad !== undefined || tags.length === 0)
      throw new Error(
        `partition table: ${JSON.stringify(bad ?? '')} is not a partition tag of prefix ${options.prefix}`,
      );
  }
  const everyPartition = everyPartitionKey(options.prefix, tags);
  switch (role) {
    case 'dispatcher':
      return [
        everyKey,
        ...everyPartition,
        `&${options.channel}`,
        `&${k.controlChannel}`,
        ...unique([
          ...CONNECT,
          ...CLUSTER,
          ...SCRIPTS,
          ...STREAM_DISPATCHER_COMMANDS,
          ...REDLOCK,
          '+subscribe',
          '+unsubscribe',
        ]),
        `(+publish &${k.controlChannel})`,
        endpointSelector(options.prefix),
      ];
    case 'lock':
      // A dedicated lock master is a plain Redis whichever the mode.
      return listRules('lock', options);
    case 'worker':
      return [
        ...streamWorkerKeys(options.prefix, tags),
        ...CONNECT,
        ...CLUSTER,
        ...SCRIPTS,
        ...STREAM_WORKER_COMMANDS,
        // Settle and reclaim dead-letter into the partition's dlq stream; without per-key concurrency
        // that is the only XADD a worker may send, so it cannot inject messages into a partition.
        `(+xadd ${partitionDeadLetterKey(options.prefix, tags)})`,
        // REDISPATCH_KEY_CONCURRENCY: the settle appends the key's next held message (one the leader
        // accepted) to the partition stream, atomically with the ack: XADD there, only when asked for.
        ...(options.keyConcurrency ? [`(+xadd ${partitionStreamKey(options.prefix, tags)})`] : []),
        `(+xadd ${resultsKey(options.prefix, 'streams', tags)})`,
        endpointSelector(options.prefix),
      ];
    case 'admin':
      return [
        everyKey,
        ...everyPartition,
        ...CONNECT,
        ...CLUSTER,
        ...SCRIPTS,
        ...STREAM_ADMIN_COMMANDS,
        `(+del +lrem ~${k.outboundDead})`,
        `(+xread +xrevrange ${resultsKey(options.prefix, 'streams', tags)})`,
        ...flowRequestSelectors(k),
      ];
    case 'publisher':
      return [`&${options.channel}`, ...CONNECT, ...CLUSTER, '+publish'];
    case 'relay':
      return [
        ...relayKeys(options.prefix),
        `&${options.channel}`,
        ...CONNECT,
        ...CLUSTER,
        ...SCRIPTS,
        ...RELAY_COMMANDS,
        '+publish',
        endpointSelector(options.prefix),
      ];
  }
}
/** The conventional user name of a role: `<prefix>-<role>`. */
export function aclUserName(role: AclRole, prefix: string): string {
  return `${prefix}-${role}`;
}

/** `#<sha256>`: ACL's hashed-password form, so generated output never carries the plain password. */
export function aclPasswordHash(password: string): string {
  return `#${createHash('sha256').update(password).digest('hex')}`;
}

/** Arguments for `ACL SETUSER`: starts from `reset`, so re-running it replaces the user exactly. */
export function aclSetUserArgs(user: string, password: string, rules: readonly string[]): string[] {
  return [user, 'reset', 'on', aclPasswordHash(password), ...rules];
}

/** One line of an ACL file (`aclfile` / `ACL LOAD`). */
export function aclFileLine(user: string, password: string, rules: readonly string[]): string {
  return ['user', user, 'on', aclPasswordHash(password), ...rules].join(' ');
}

/**
 * `pause`/`resume`: flowRequest-1.lua writes the request fields (the leader reads them each upkeep).
 * `schedule add|remove`: scheduleEdit-3.lua writes the schedule keys (the leader fires, fenced).
 */
function flowRequestSelectors(k: ReturnType<typeof createKeys>): string[] {
  return [
    `(+hset +hincrby ~${k.flow})`,
    `(+hset +hdel +incr +get ~${k.schedules} ~${k.scheduleState} ~${k.schedulesVersion})`,
  ];
}
