import { createHash } from 'node:crypto';
import { createKeys } from '../redis/keys.js';

/**
 * Least-privilege Redis ACL rules for each role, derived from what the code actually sends (the
 * commands inside our Lua scripts count too: Redis checks a script's `redis.call`s against the
 * caller's ACL). Printed by `scripts/acl.mjs`; tested against a real Redis in dispatcher/test/acl.test.ts.
 *
 * - `dispatcher`: the data Redis. Leader scripts (dispatchBatch, reap, elect, resign), GET of the progress
 *   marker, SUBSCRIBE to the ingress channel and the control channel, PUBLISH to the control channel
 *   only, and Redlock's scripts when the data Redis is also the (only) lock master.
 * - `lock`: a dedicated Redlock master: Redlock's acquire/extend/release scripts on `{prefix}:lease` only.
 * - `worker`: claim/settle/heartbeat scripts and the BLMOVE wake-up, on the message keys only: no
 *   epoch, leader record, progress marker, dedupe keys or lease; no pub/sub at all.
 * - `admin`: `stats` and `dlq list|replay|purge`: reads, plus the two DLQ scripts.
 * - `publisher`: PUBLISH to the ingress channel, nothing else (`redispatch publish` and producers).
 */
export type AclRole = 'dispatcher' | 'lock' | 'worker' | 'admin' | 'publisher';

export const ACL_ROLES: readonly AclRole[] = ['dispatcher', 'lock', 'worker', 'admin', 'publisher'];

export interface AclOptions {
  /** REDISPATCH_PREFIX */
  prefix: string;
  /** REDISPATCH_CHANNEL (the ingress channel publishers PUBLISH to) */
  channel: string;
}

/**
 * Every connection: CLIENT SETNAME (ioredis `connectionName`), INFO (ioredis's ready check) and
 * SELECT (a `/db` in the URL; key patterns apply in every database, so it widens nothing).
 * AUTH and QUIT need no permission. ioredis also tries CLIENT SETINFO (Redis >= 7.2) and ignores
 * a refusal; Redis 7.0 does not know the subcommand, so it cannot be listed.
 */
const CONNECT = ['+client|setname', '+info', '+select'];
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

/** The `redis.call`s in dispatchBatch-9+, reap-11, elect-2 and resign-2, plus direct GET/HINCRBY. */
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
  '+zcard',
  '+smembers',
  '+srem',
  '+time',
];

/** `stats` (one pipeline of reads) and `dlq list` (reads), `dlq replay|purge` (dlqReplay-5, dlqPurge-4). */
const ADMIN_COMMANDS = [
  '+time',
  '+hgetall',
  '+get',
  '+zrange',
  '+zcard',
  '+llen',
  '+scard',
  '+hmget',
  '+zrem',
  '+hdel',
  '+rpush',
  '+hincrby',
];

const unique = (items: string[]) => [...new Set(items)];

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

/** The ACL rules (without user name and password) for one role. */
export function aclRules(role: AclRole, options: AclOptions): string[] {
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
      ];
    case 'lock':
      return [`~${k.leaseLock}`, ...CONNECT, ...SCRIPTS, ...REDLOCK];
    case 'worker':
      return [...workerKeys(options.prefix), ...CONNECT, ...SCRIPTS, ...WORKER_COMMANDS];
    case 'admin':
      return [everyKey, ...CONNECT, ...SCRIPTS, ...ADMIN_COMMANDS];
    case 'publisher':
      return [`&${options.channel}`, ...CONNECT, '+publish'];
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
