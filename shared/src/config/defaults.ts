/** Named defaults, with units in the name. Every one is overridable by a REDISPATCH_* variable and a flag. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_CHANNEL = 'redispatch';
export const DEFAULT_PREFIX = 'rd';
/** Leader lease. Kubernetes' own election uses 15 s; a 3 s lease fails over in ~3-4 s. */
export const DEFAULT_LEASE_MS = 3_000;
/** Visibility timeout: a claimed message not acked within this is redelivered. BullMQ's lock is 30 s. */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_CONCURRENCY = 16;
export const DEFAULT_METRICS_PORT = 9477;
export const DEFAULT_HEARTBEAT_MS = 1_000;
/** A worker silent this long is dead: its queue and its in-flight messages are reassigned. */
export const DEFAULT_WORKER_TTL_MS = 5_000;
export const DEFAULT_BATCH_SIZE = 512;
/** Backpressure: a worker queue holding this many messages is skipped; overflow waits in the backlog. */
export const DEFAULT_QUEUE_HIGH_WATER = 1_000;
export const DEFAULT_BACKOFF_BASE_MS = 200;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;
export const DEFAULT_REAP_INTERVAL_MS = 200;
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** Per-command timeout on request-path connections: an unanswered write fails instead of hanging. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
/** Most replies one outbound queue (a relay's, or the shared HTTP one) holds; past it they are dead-lettered. */
export const DEFAULT_OUTBOUND_MAX = 10_000;
export const DEFAULT_RELAY_PORT = 8080;
/** How long replies for a disconnected session wait for its client to reconnect (resume). */
export const DEFAULT_RELAY_RESUME_MS = 30_000;
/** A relay silent this long is gone: a peer dead-letters its queued replies. Entries older are not delivered. */
export const DEFAULT_RELAY_RETENTION_MS = 600_000;
export const DEFAULT_HTTP_MAX_ATTEMPTS = 5;
export const DEFAULT_HTTP_BACKOFF_BASE_MS = 200;
export const DEFAULT_HTTP_TIMEOUT_MS = 5_000;
/** Streams mode: stream partitions; 6 spreads two per master on a 3-master cluster. */
export const DEFAULT_PARTITIONS = 6;
/** Relay: frames one session may have awaiting a reply before the relay stops reading its socket. */
export const DEFAULT_RELAY_MAX_PENDING = 16;
/** Relay: a frame unanswered this long no longer counts as pending (handlers that never reply). */
export const DEFAULT_RELAY_PENDING_TIMEOUT_MS = 30_000;
export const DEFAULT_RELAY_MAX_CONNECTIONS = 10_000;
/** Relay: a socket silent (no pong, no frame) this long is closed. */
export const DEFAULT_RELAY_IDLE_MS = 60_000;
/** Relay: unsent reply bytes one session may hold before a slow reader is closed. */
export const DEFAULT_RELAY_MAX_BUFFERED_BYTES = 8 * 1_048_576;
/** Relay: unsent reply bytes the whole relay holds before it stops taking replies from Redis. */
export const DEFAULT_RELAY_MEMORY_BUDGET_BYTES = 256 * 1_048_576;
