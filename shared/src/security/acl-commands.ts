/** The commands each role may send (the `redis.call`s in our Lua scripts count too). */

/**
 * Every connection: CLIENT SETNAME (ioredis `connectionName`), INFO (ioredis's ready check) and
 * SELECT (a `/db` in the URL; key patterns apply in every database, so it widens nothing).
 * AUTH and QUIT need no permission. ioredis also tries CLIENT SETINFO (Redis >= 7.2) and ignores
 * a refusal; Redis 7.0 does not know the subcommand, so it cannot be listed.
 */
export const CONNECT = ['+client|setname', '+info', '+select'];
/** What ioredis's Cluster client sends to learn and follow the topology; no key is touched. */
export const CLUSTER = ['+cluster|slots', '+cluster|info', '+asking', '+readonly', '+readwrite'];
/** ioredis runs scripts as EVALSHA and falls back to EVAL on NOSCRIPT; it never sends SCRIPT LOAD. */
export const SCRIPTS = ['+evalsha', '+eval'];
/** `redis.call`s in @sesamecare-oss/redlock's acquire/extend/release scripts (SELECT is a pcall). */
export const REDLOCK = ['+exists', '+get', '+set', '+del'];

/**
 * The `redis.call`s in claim-8, settle-9, settleClaim-12 (with their reply writes: LPUSH/LLEN on the
 * outbound queues, ZSCORE on the relay registry; with the per-key limits' release, includes/list-key-gate.lua:
 * LRANGE/LINSERT of a key's held list, PEXPIRE of its bucket, ZRANGEBYSCORE of the live workers) and
 * heartbeat-1, plus BLMOVE.
 */
export const WORKER_COMMANDS = [
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
  '+lrange',
  '+linsert',
  '+pexpire',
  '+zrangebyscore',
];

/**
 * Streams mode: XREADGROUP and XGROUP CREATE (the reader loops), GET of the partition table, and
 * the `redis.call`s in streamSettle-7, streamReclaim-4, heartbeat-1 and outboundWrite-1 (XADD is
 * granted separately, on the dead-letter streams only).
 */
export const STREAM_WORKER_COMMANDS = [
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
  // The per-key limits (includes/key-gate.lua): freeing a slot and appending the key's next held message.
  '+hget',
  '+hmget',
  '+hdel',
  '+lindex',
  '+lpop',
  '+srem',
  '+zrem',
  '+pexpire',
];

/**
 * The `redis.call`s in dispatchBatch-10+, reap-11, flowApply-4, elect-2 and resign-2, plus direct GET/HINCRBY and
 * the gap bookkeeping after a lost subscription (MULTI HSET PEXPIRE EXEC, HGETALL on `resumed`).
 */
export const DISPATCHER_COMMANDS = [
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
  '+linsert',
  '+ltrim',
  '+zadd',
  '+zrem',
  '+zscore',
  '+zrange',
  '+zrangebyscore',
  '+zcard',
  // Dead-letter cap (routing/dead-letter-trim.ts): LLEN and LTRIM of {prefix}:out-dlq.
  '+ltrim',
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
 * streamAppend-10 and streamMaintain-8, the partition table (GET, SET NX), WAIT, direct HINCRBY and
 * the gap bookkeeping.
 */
export const STREAM_DISPATCHER_COMMANDS = [
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
  // Dead-letter cap (routing/dead-letter-trim.ts): LLEN and LTRIM of {prefix}:out-dlq; flowApply-4
  // also reads and moves the held list (empty in streams mode, but the script reads it).
  '+llen',
  '+ltrim',
  // scheduleAdvance-3.
  '+hexists',
  '+lrange',
  '+lpush',
  '+time',
  '+wait',
  // resign-2 reads the leader record's epoch and id in one HMGET.
  '+hmget',
  // The per-key limits (includes/key-gate.lua, streamKeyRelease-2): held lists, waiting keys.
  '+rpush',
  '+lindex',
  '+lpop',
  '+sadd',
  '+srem',
  '+scard',
  // streamKeyRelease-2 'all' / 'drain': the waiting keys, page by page.
  '+sscan',
];

/**
 * `stats` (one pipeline of reads), `dlq list|show` (reads; ZSCORE finds an id, HSTRLEN sizes a body
 * before a replay), `dlq replay|purge` (dlqReplay-5, dlqPurge-4, dlqPurgeIds-4), `outbound-dlq list`
 * (LRANGE) and `purge` (MULTI LLEN DEL EXEC, or LREM per entry; DEL and LREM on that list only).
 */
export const ADMIN_COMMANDS = [
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
  '+hget',
  '+hset',
  '+zrem',
  '+hdel',
  '+rpush',
  '+hincrby',
  '+lrange',
  '+multi',
  '+exec',
  // dlqReplay-5 / dlqPurge-4 with the per-key limits (includes/list-key-gate.lua).
  '+lpush',
  '+lpop',
  '+linsert',
  '+zadd',
  '+exists',
  '+pexpire',
  '+zrangebyscore',
];

/**
 * Streams mode's `stats` (XLEN, XINFO GROUPS/CONSUMERS, ZCARD, HGETALL), `dlq list` (XRANGE),
 * `dlq replay|purge` (streamDlqReplay-4, streamDlqReplayEntries-4, streamDlqPurge-1, XDEL) and `outbound-dlq`.
 * The replay scripts check with EXISTS whether a prioritized dead letter's priority stream is there.
 */
export const STREAM_ADMIN_COMMANDS = [
  '+exists',
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
  // stats: messages held by a per-key limit and the keys waiting (PartitionKeys.keyGateHeld/Waiting).
  '+hlen',
  '+scard',
];

/**
 * The `redis.call`s in heartbeat-1, relaySweep-2, outboundTake-2, outboundSettle-2 and
 * outboundReturn-2, plus BLMOVE (the blocking take), LRANGE (recovery), TIME, LLEN (the dead-letter
 * gauge) and the relay-sessions hash (HGETALL, HSET, HDEL; HSETNX and HGET for the reply-binding key).
 */
export const RELAY_COMMANDS = [
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
