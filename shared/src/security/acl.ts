import { createHash } from 'node:crypto';
import { createKeys } from '../redis/keys.js';

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
 *   Streams: XREADGROUP, XGROUP CREATE, the streamSettle/streamReclaim/heartbeat/outboundWrite
 *   scripts; XADD only into the partitions' dead-letter streams (a selector), never into a partition
 *   stream; the partition table read-only. Neither mode: epoch, leader record, fences, progress
 *   markers, dedupe keys, lease, pub/sub.
 * - `admin`: `stats`, `dlq list|replay|purge` and `outbound-dlq list|purge`: reads, the DLQ scripts,
 *   and DEL of the outbound dead-letter list only.
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
}

/**
 * Every connection: CLIENT SETNAME (ioredis `connectionName`), INFO (ioredis's ready check) and
 * SELECT (a `/db` in the URL; key patterns apply in every database, so it widens nothing).
 * AUTH and QUIT need no permission. ioredis also tries CLIENT SETINFO (Redis >= 7.2) and ignores
 * a refusal; Redis 7.0 does not know the subcommand, so it cannot be listed.
 */
const CONNECT = ['+client|setname', '+info', '+select'];
/** What ioredis's Cluster client sends to learn and follow the topology; no key is touched. */
const CLUSTER = ['+cluster|slots', '+cluster|info', '+asking', '+readonly', '+readwrite'];
/** ioredis runs scripts as EVALSHA and falls back to EVAL on NOSCRIPT; it never sends SCRIPT LOAD. */
const SCRIPTS = ['+evalsha', '+eval'];
/** `redis.call`s in @sesamecare-oss/redlock's acquire/extend/release scripts (SELECT is a pcall). */
const REDLOCK = ['+exists', '+get', '+set', '+del'];

/**
 * The `redis.call`s in claim-8, settle-9, settleClaim-12 (with their reply writes: LPUSH/LLEN on the
 * outbound queues, ZSCORE on the relay registry) and heartbeat-1, plus BLMOVE.
 */
const WORKER_COMMANDS = [
  '+blmove',
  '+lpush',
  '+llen',
  '+lindex',
  '+lpop',
  '+rpush',
  '+zscore',
  '+zadd',
  '+zrem',
  '+hget',
  '+hmget',
  '+hset',
  '+hdel',
  '+hincrby',
  '+sadd',
  '+srem',
  '+time',
];

/**
 * Streams mode: XREADGROUP and XGROUP CREATE (the reader loops), GET of the partition table, and
 * the `redis.call`s in streamSettle-7, streamReclaim-3, heartbeat-1 and outboundWrite-1 (XADD is
 * granted separately, on the dead-letter streams only).
 */
const STREAM_WORKER_COMMANDS = [
  '+get',
  '+xreadgroup',
  '+xgroup|create',
  '+xack',
  '+xpending',
  '+xrange',
  '+xclaim',
  '+exists',
  '+zscore',
  '+zadd',
  '+hset',
  '+hincrby',
  '+lpush',
  '+llen',
  '+time',
];

/**
 * The `redis.call`s in dispatchBatch-9+, reap-11, elect-2 and resign-2, plus direct GET/HINCRBY and
 * the gap bookkeeping after a lost subscription (MULTI HSET PEXPIRE EXEC, HGETALL on `resumed`).
 */
const DISPATCHER_COMMANDS = [
  '+get',
  '+set',
  '+incr',
  '+del',
  '+hget',
  '+hmget',
  '+hset',
  '+hsetnx',
  '+hdel',
  '+hexists',
  '+hincrby',
  '+lpop',
  '+lpush',
  '+rpush',
  '+llen',
  '+lrange',
  '+zadd',
  '+zrem',
  '+zscore',
  '+zrange',
  '+zrangebyscore',
  '+zremrangebyscore',
  '+zcard',
  '+smembers',
  '+srem',
  '+time',
  '+hgetall',
  '+pexpire',
  '+multi',
  '+exec',
];

/**
 * Streams mode: the `redis.call`s in elect-2, resign-2, liveWorkers-1, streamFence-2,
 * streamAppend-8 and streamMaintain-7, the partition table (GET, SET NX), WAIT, direct HINCRBY and
 * the gap bookkeeping.
 */
const STREAM_DISPATCHER_COMMANDS = [
  '+get',
  '+set',
  '+incr',
  '+del',
  '+exists',
  '+hget',
  '+hset',
  '+hdel',
  '+hincrby',
  '+hgetall',
  '+pexpire',
  '+multi',
  '+exec',
  '+zadd',
  '+zrem',
  '+zrange',
  '+zrangebyscore',
  '+zremrangebyscore',
  '+zcard',
  '+xadd',
  '+xgroup|create',
  '+xgroup|delconsumer',
  '+xinfo|groups',
  '+xinfo|consumers',
  '+xpending',
  '+xtrim',
  '+xlen',
  '+time',
  '+wait',
];

/**
 * `stats` (one pipeline of reads), `dlq list|show` (reads; ZSCORE finds an id, HSTRLEN sizes a body
 * before a replay), `dlq replay|purge` (dlqReplay-5, dlqPurge-4, dlqPurgeIds-4), `outbound-dlq list`
 * (LRANGE) and `purge` (MULTI LLEN DEL EXEC, or LREM per entry; DEL and LREM on that list only).
 */
const ADMIN_COMMANDS = [
  '+time',
  '+hgetall',
  '+get',
  '+zrange',
  '+zscore',
  '+hstrlen',
  '+zcard',
  '+llen',
  '+scard',
  '+hmget',
  '+zrem',
  '+hdel',
  '+rpush',
  '+hincrby',
  '+lrange',
  '+multi',
  '+exec',
];

/**
 * Streams mode's `stats` (XLEN, XINFO GROUPS/CONSUMERS, ZCARD, HGETALL), `dlq list` (XRANGE),
 * `dlq replay|purge` (streamDlqReplay-3, streamDlqReplayEntries-3, streamDlqPurge-1, XDEL) and `outbound-dlq`.
 */
const STREAM_ADMIN_COMMANDS = [
  '+time',
  '+get',
  '+hgetall',
  '+zrange',
  '+zcard',
  '+llen',
  '+lrange',
  '+multi',
  '+exec',
  '+xlen',
  '+xinfo|groups',
  '+xinfo|consumers',
  '+xrange',
  '+xadd',
  '+xdel',
  '+hincrby',
];

/**
 * The `redis.call`s in heartbeat-1, relaySweep-2, outboundTake-2, outboundSettle-2 and
 * outboundReturn-2, plus BLMOVE (the blocking take), LRANGE (recovery), TIME, LLEN (the dead-letter
 * gauge) and the relay-sessions hash (HGETALL, HSET, HDEL; HSETNX and HGET for the reply-binding key).
 */
const RELAY_COMMANDS = [
  '+zscore',
  '+zadd',
  '+zrem',
  '+zrangebyscore',
  '+time',
  '+lmove',
  '+blmove',
  '+lrange',
  '+lrem',
  '+lpush',
  '+llen',
  '+del',
  '+hgetall',
  '+hset',
  '+hsetnx',
  '+hget',
  '+hdel',
];

const unique = (items: string[]) => [...new Set(items)];

/**
 * Every long-lived process (dispatcher, worker, relay) keeps its entry in the endpoint directory
 * (where it serves /metrics; shared/src/observability/endpoint-directory.ts): a selector, so the
 * commands reach that one hash only.
 */
function endpointSelector(prefix: string): string {
  return `(+time +hset +hdel +hgetall ~${createKeys(prefix).endpoints})`;
}

/** Key patterns a worker touches: its queue and held set (any worker id), and the shared message state. */
function workerKeys(prefix: string): string[] {
  const k = createKeys(prefix);
  return [
    `~${k.tag}:q:*`,
    `~${k.tag}:held:*`,
    ...[
      k.inflight,
      k.owner,
      k.attempts,
      k.body,
      k.workers,
      k.backlog,
      k.errors,
      k.delayed,
      k.dlq,
      k.totals,
      k.relays,
      `${k.tag}:out-dlq`,
    ].map((key) => `~${key}`),
    // Replies: one outbound queue per relay (and one for HTTP deliveries).
    `~${k.tag}:out:*`,
  ];
}

/**
 * A glob over every partition key with one suffix: partition tags are `<prefix>:<n>` or
 * `<prefix>:<n>.<salt>` (shared/src/streams/partition-table.ts), so `{prefix:` then a digit.
 * A glob cannot say "digits only" after that, so a prefix that extends this one with `:<digit>`
 * would match (its keys collide with these partitions anyway: give deployments distinct prefixes).
 */
function partitionKey(prefix: string, suffix: string): string {
  return `~{${prefix}:[0-9]*}:${suffix}`;
}

/**
 * Streams mode: the worker's keys. The partition stream itself is read and acked, never written
 * (XADD is not granted on it); the partition table is read-only. The dead-letter streams are here
 * because the settle and reclaim scripts declare them (Redis checks a script's declared keys
 * against these patterns); the XADD into them is granted by a selector of its own.
 */
function streamWorkerKeys(prefix: string): string[] {
  const k = createKeys(prefix);
  return [
    `%R~${k.partitions}`,
    `~${k.workers}`,
    `~${k.relays}`,
    `~${k.outboundDead}`,
    `~${k.tag}:out:*`,
    ...['s', 'delayed', 'delayed-body', 'delayed-attempts', 'errors', 'dlq', 'totals'].map((suffix) =>
      partitionKey(prefix, suffix),
    ),
  ];
}

/** The relay's keys: registry, outbound queues and processing lists, sessions, outbound dead letters. */
function relayKeys(prefix: string): string[] {
  const k = createKeys(prefix);
  return [
    k.relays,
    k.outboundDead,
    k.outbound('relay:*'),
    k.outboundProcessing('relay:*', ''),
    k.outbound('http'),
    k.outboundProcessing('http', '*'),
    k.relaySessions('*'),
  ].map((key) => `~${key}`);
}

/**
 * The deployment check every role but lock and publisher makes at start (shared/src/deployment):
 * GET of the stamp (and SET NX of it for the roles that stamp a new deployment: dispatcher and
 * worker), and EXISTS on the keys an unstamped earlier deployment's mode is read from. Selectors, so
 * no role gains SET or EXISTS on anything else.
 */
function deploymentRules(prefix: string, stamps: boolean): string[] {
  const k = createKeys(prefix);
  return [
    stamps ? `(+get +set ~${k.deployment})` : `(+get %R~${k.deployment})`,
    `(+exists %R~${k.partitions} %R~${k.epoch} %R~${k.workers})`,
  ];
}

/** The ACL rules (without user name and password) for one role. */
export function aclRules(role: AclRole, options: AclOptions): string[] {
  const rules = options.mode === 'streams' ? streamRules(role, options) : listRules(role, options);
  if (role === 'lock' || role === 'publisher') return rules;
  return [...rules, ...deploymentRules(options.prefix, role === 'dispatcher' || role === 'worker')];
}

function listRules(role: AclRole, options: AclOptions): string[] {
  const k = createKeys(options.prefix);
  const everyKey = `~${k.tag}:*`;
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
        endpointSelector(options.prefix),
      ];
    case 'admin':
      return [everyKey, ...CONNECT, ...SCRIPTS, ...ADMIN_COMMANDS, `(+del +lrem ~${k.outboundDead})`];
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
  const everyKey = `~${k.tag}:*`;
  const everyPartitionKey = partitionKey(options.prefix, '*');
  switch (role) {
    case 'dispatcher':
      return [
        everyKey,
        everyPartitionKey,
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
        ...streamWorkerKeys(options.prefix),
        ...CONNECT,
        ...CLUSTER,
        ...SCRIPTS,
        ...STREAM_WORKER_COMMANDS,
        // Settle and reclaim dead-letter into the partition's dlq stream; that is the only XADD a
        // worker may send, so it cannot inject messages into a partition.
        `(+xadd ${partitionKey(options.prefix, 'dlq')})`,
        endpointSelector(options.prefix),
      ];
    case 'admin':
      return [
        everyKey,
        everyPartitionKey,
        ...CONNECT,
        ...CLUSTER,
        ...SCRIPTS,
        ...STREAM_ADMIN_COMMANDS,
        `(+del +lrem ~${k.outboundDead})`,
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
