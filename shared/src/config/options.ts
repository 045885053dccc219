import { hostname } from 'node:os';
import { z } from 'zod';
import * as d from './defaults.js';
import { parseRedisUrl } from './redis-url.js';

/**
 * The single table of settings. Each entry yields a REDISPATCH_* variable, a CLI flag and a row of
 * docs/configuration.md; `loadConfig` validates them all at once. Adding a setting means adding one entry here.
 */
export interface OptionSpec<T> {
  env: string;
  flag: string;
  description: string;
  schema: z.ZodType<T>;
  default: string | undefined;
}

const redisUrl = z.string().superRefine((value, ctx) => {
  try {
    parseRedisUrl(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});
/** A comma-separated setting as its trimmed, non-empty parts. */
const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== ''),
);
const redisUrlList = commaList.superRefine((urls, ctx) => {
  urls.forEach((value, index) => {
    try {
      parseRedisUrl(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `entry ${index + 1} ${(error as Error).message}` });
    }
  });
});
const natsUrlList = commaList.superRefine((urls, ctx) => {
  if (urls.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one server' });
  urls.forEach((value, index) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} is not a URL (expected nats://host:port)`,
      });
      return;
    }
    if (!['nats:', 'tls:'].includes(url.protocol)) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} has scheme "${url.protocol.replace(/:$/, '')}" (expected nats or tls)`,
      });
    }
  });
});
/** `host:port` or a redis:// / rediss:// URL; credentials and TLS default to REDISPATCH_REDIS_URL's. */
const clusterNodeList = commaList.superRefine((nodes, ctx) => {
  nodes.forEach((value, index) => {
    if (/^rediss?:\/\//.test(value)) {
      try {
        parseRedisUrl(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `entry ${index + 1} ${(error as Error).message}` });
      }
      return;
    }
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s/]+):(\d{1,5})$/.exec(value);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} is not host:port or a redis:// URL`,
      });
    }
  });
});
/** `host:port` (IPv6 in brackets) as ioredis's node address, or undefined when malformed. */
function hostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s/=]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) return undefined;
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
}
/**
 * `announced=reachable,…` pairs of host:port: where to connect for a cluster node that announces an
 * address this process cannot reach (NAT, port forwarding, a proxy). ioredis's `natMap` form.
 */
const natMapList = commaList.transform((pairs, ctx) => {
  const map: Record<string, { host: string; port: number }> = {};
  pairs.forEach((pair, index) => {
    const [from = '', to = '', extra] = pair.split('=').map((side) => side.trim());
    const announced = hostPort(from);
    const reachable = hostPort(to);
    if (extra !== undefined || !announced || !reachable) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} is not announced-host:port=reachable-host:port`,
      });
      return;
    }
    map[`${announced.host}:${announced.port}`] = reachable;
  });
  return map;
});
const intAtLeast = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(v), 'expected true or false')
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -');

function option<T, D extends string | undefined = undefined>(
  env: string,
  flag: string,
  description: string,
  schema: z.ZodType<T, string>,
  defaultValue?: D,
): OptionSpec<T> & { default: D } {
  return { env: `REDISPATCH_${env}`, flag, description, schema, default: defaultValue as D };
}

export const OPTIONS = {
  redisUrl: option(
    'REDIS_URL',
    '--redis-url <url>',
    'Data Redis (redis://, rediss:// for TLS)',
    redisUrl,
    d.DEFAULT_REDIS_URL,
  ),
  lockUrls: option(
    'LOCK_URLS',
    '--lock-urls <urls>',
    'Comma-separated Redlock masters (default: the data Redis)',
    redisUrlList,
  ),
  mode: option(
    'MODE',
    '--mode <mode>',
    'Routing mode: lists or streams',
    z.enum(['lists', 'streams']),
    'lists',
  ),
  clusterNodes: option(
    'CLUSTER_NODES',
    '--cluster-nodes <nodes>',
    'Streams mode: Redis Cluster seed nodes, comma-separated host:port (auth and TLS as REDISPATCH_REDIS_URL); unset: the single Redis at REDISPATCH_REDIS_URL',
    clusterNodeList,
  ),
  clusterNatMap: option(
    'CLUSTER_NAT_MAP',
    '--cluster-nat-map <pairs>',
    'Streams mode: address translation for cluster nodes that announce addresses this process cannot reach (NAT, port forwards), comma-separated announced-host:port=reachable-host:port',
    natMapList,
  ),
  partitions: option(
    'PARTITIONS',
    '--partitions <n>',
    'Streams mode: stream partitions, spread over the cluster masters (fixed once a deployment has written)',
    intAtLeast(1, 1024),
    String(d.DEFAULT_PARTITIONS),
  ),
  consumerGroup: option(
    'CONSUMER_GROUP',
    '--consumer-group <name>',
    'Streams mode: the consumer group every worker joins',
    name,
    'workers',
  ),
  waitReplicas: option(
    'WAIT_REPLICAS',
    '--wait-replicas <n>',
    'Streams mode: after each batch, WAIT for this many replicas to acknowledge it (0 = do not wait)',
    intAtLeast(0, 16),
    '0',
  ),
  waitTimeoutMs: option(
    'WAIT_TIMEOUT_MS',
    '--wait-timeout-ms <ms>',
    'Streams mode: longest WAIT for replicas per batch; a batch short of replicas is retried',
    intAtLeast(1),
    '1000',
  ),
  channel: option(
    'CHANNEL',
    '--channel <name>',
    'Pub/sub channel publishers PUBLISH to',
    name,
    d.DEFAULT_CHANNEL,
  ),
  prefix: option(
    'PREFIX',
    '--prefix <name>',
    'Key namespace; keys are {prefix}:…, so several deployments share one Redis',
    name,
    d.DEFAULT_PREFIX,
  ),
  leaseMs: option(
    'LEASE_MS',
    '--lease-ms <ms>',
    'Leader lease; renewed every lease/3, retried every lease/4',
    intAtLeast(300),
    String(d.DEFAULT_LEASE_MS),
  ),
  ackTimeoutMs: option(
    'ACK_TIMEOUT_MS',
    '--ack-timeout-ms <ms>',
    'Visibility timeout: a claimed message not acked in time is redelivered',
    intAtLeast(100),
    String(d.DEFAULT_ACK_TIMEOUT_MS),
  ),
  maxAttempts: option(
    'MAX_ATTEMPTS',
    '--max-attempts <n>',
    'Deliveries before a message is dead-lettered',
    intAtLeast(1, 1000),
    String(d.DEFAULT_MAX_ATTEMPTS),
  ),
  concurrency: option(
    'CONCURRENCY',
    '--concurrency <n>',
    'Handlers a worker runs at once',
    intAtLeast(1, 10_000),
    String(d.DEFAULT_CONCURRENCY),
  ),
  metricsPort: option(
    'METRICS_PORT',
    '--metrics-port <port>',
    'Port for /metrics, /healthz, /readyz (0 picks a free port; -1 disables)',
    intAtLeast(-1, 65535),
    String(d.DEFAULT_METRICS_PORT),
  ),
  metricsHost: option(
    'METRICS_HOST',
    '--metrics-host <host>',
    'Address the metrics server binds',
    z.string().min(1),
    '0.0.0.0',
  ),
  logLevel: option(
    'LOG_LEVEL',
    '--log-level <level>',
    'pino level',
    z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    'info',
  ),
  heartbeatMs: option(
    'HEARTBEAT_MS',
    '--heartbeat-ms <ms>',
    'Worker heartbeat interval',
    intAtLeast(50),
    String(d.DEFAULT_HEARTBEAT_MS),
  ),
  workerTtlMs: option(
    'WORKER_TTL_MS',
    '--worker-ttl-ms <ms>',
    'A worker silent this long is dead; its messages are reassigned',
    intAtLeast(150),
    String(d.DEFAULT_WORKER_TTL_MS),
  ),
  batchSize: option(
    'BATCH_SIZE',
    '--batch-size <n>',
    'Most messages the leader writes in one script call',
    intAtLeast(1, 100_000),
    String(d.DEFAULT_BATCH_SIZE),
  ),
  queueHighWater: option(
    'QUEUE_HIGH_WATER',
    '--queue-high-water <n>',
    'A worker queue this long is skipped (backpressure); overflow waits in the backlog',
    intAtLeast(1),
    String(d.DEFAULT_QUEUE_HIGH_WATER),
  ),
  prefetch: option(
    'PREFETCH',
    '--prefetch <n>',
    'Messages a worker claims beyond its free handler slots (default 0)',
    intAtLeast(0, 100_000),
    '0',
  ),
  backoffBaseMs: option(
    'BACKOFF_BASE_MS',
    '--backoff-base-ms <ms>',
    'First retry delay after a nack; doubles per attempt',
    intAtLeast(0),
    String(d.DEFAULT_BACKOFF_BASE_MS),
  ),
  backoffMaxMs: option(
    'BACKOFF_MAX_MS',
    '--backoff-max-ms <ms>',
    'Cap on the retry delay',
    intAtLeast(0),
    String(d.DEFAULT_BACKOFF_MAX_MS),
  ),
  reapIntervalMs: option(
    'REAP_INTERVAL_MS',
    '--reap-interval-ms <ms>',
    'How often the leader reaps expired deadlines, dead workers and due delays',
    intAtLeast(10),
    String(d.DEFAULT_REAP_INTERVAL_MS),
  ),
  maxPayloadBytes: option(
    'MAX_PAYLOAD_BYTES',
    '--max-payload-bytes <n>',
    'Larger payloads are dead-lettered with reason "oversize"',
    intAtLeast(1),
    String(d.DEFAULT_MAX_PAYLOAD_BYTES),
  ),
  drainTimeoutMs: option(
    'DRAIN_TIMEOUT_MS',
    '--drain-timeout-ms <ms>',
    'Grace period on SIGTERM: a worker finishes in-flight work, a relay lets its sockets drain',
    intAtLeast(0),
    String(d.DEFAULT_DRAIN_TIMEOUT_MS),
  ),
  commandTimeoutMs: option(
    'COMMAND_TIMEOUT_MS',
    '--command-timeout-ms <ms>',
    'Timeout for each Redis command on request connections',
    intAtLeast(50),
    String(d.DEFAULT_COMMAND_TIMEOUT_MS),
  ),
  ingress: option(
    'INGRESS',
    '--ingress <kind>',
    'Where messages come from: redis (pub/sub), nats (core subject), jetstream (durable, lossless)',
    z.enum(['redis', 'nats', 'jetstream']),
    'redis',
  ),
  natsUrl: option(
    'NATS_URL',
    '--nats-url <url>',
    'NATS server(s), comma-separated: nats://[user:pass@|token@]host:port (tls:// for TLS)',
    natsUrlList,
    'nats://127.0.0.1:4222',
  ),
  natsSubject: option(
    'NATS_SUBJECT',
    '--nats-subject <subject>',
    'NATS subject to consume (default: the channel name)',
    z
      .string()
      .trim()
      .min(1)
      .regex(/^[^\s]+$/, 'must not contain spaces'),
  ),
  natsStream: option(
    'NATS_STREAM',
    '--nats-stream <name>',
    'JetStream stream (created on the subject if missing)',
    name,
    'REDISPATCH',
  ),
  natsConsumer: option(
    'NATS_CONSUMER',
    '--nats-consumer <name>',
    'JetStream durable consumer name',
    name,
    'redispatch',
  ),
  natsTlsCaFile: option(
    'NATS_TLS_CA_FILE',
    '--nats-tls-ca-file <path>',
    'CA bundle for NATS TLS',
    z.string().min(1),
  ),
  routing: option(
    'ROUTING',
    '--routing <strategy>',
    'round-robin, least-loaded, or affinity (envelope affinity keys stick to one worker)',
    z.enum(['round-robin', 'least-loaded', 'affinity']),
    'round-robin',
  ),
  dedupeWindowMs: option(
    'DEDUPE_WINDOW_MS',
    '--dedupe-window-ms <ms>',
    'How long a publisher message id (envelope) is remembered; a repeat within it is routed once',
    intAtLeast(1),
    '600000',
  ),
  standbyBufferMax: option(
    'STANDBY_BUFFER_MAX',
    '--standby-buffer-max <n>',
    'Messages a standby keeps for failover replay',
    intAtLeast(0),
    '100000',
  ),
  standbyBufferBytes: option(
    'STANDBY_BUFFER_BYTES',
    '--standby-buffer-bytes <n>',
    'Bytes a standby keeps for failover replay',
    intAtLeast(0),
    String(64 * 1024 * 1024),
  ),
  standbyBufferAgeMs: option(
    'STANDBY_BUFFER_AGE_MS',
    '--standby-buffer-age-ms <ms>',
    'Oldest message a standby keeps for failover replay',
    intAtLeast(0),
    '30000',
  ),
  standbyPollMs: option(
    'STANDBY_POLL_MS',
    '--standby-poll-ms <ms>',
    "How often a standby reads the leader's progress marker to drop what is proven written",
    intAtLeast(10),
    '250',
  ),
  handler: option(
    'HANDLER',
    '--handler <module>',
    'Worker handler module: its default export is async (msg) => unknown',
    z.string().min(1),
  ),
  isolate: option(
    'ISOLATE',
    '--isolate [bool]',
    'Run the handler in a pool of child processes: a handler that exits, crashes or runs out of memory loses only its child',
    bool,
    'false',
  ),
  isolatePool: option(
    'ISOLATE_POOL',
    '--isolate-pool <n>',
    'Handler processes with --isolate; each runs concurrency/n messages at once (0: one per handler slot)',
    intAtLeast(0, 10_000),
    '0',
  ),
  isolateMaxMemoryMb: option(
    'ISOLATE_MAX_MEMORY_MB',
    '--isolate-max-memory-mb <mb>',
    'V8 heap limit of each handler process (resident memory: this + 128 MB); past it the process is replaced',
    intAtLeast(16, 1_048_576),
    '512',
  ),
  instanceId: option(
    'INSTANCE_ID',
    '--instance-id <id>',
    'Stable id of this process (default: host-pid-random)',
    name,
  ),
  outboundMax: option(
    'OUTBOUND_MAX',
    '--outbound-max <n>',
    'Most replies one outbound queue holds; a reply past it is dead-lettered (reason overflow)',
    intAtLeast(1),
    String(d.DEFAULT_OUTBOUND_MAX),
  ),
  relayPort: option(
    'RELAY_PORT',
    '--relay-port <port>',
    'WebSocket port of `redispatch relay` (0 picks a free port; -1: no WebSocket, HTTP deliverer only)',
    intAtLeast(-1, 65535),
    String(d.DEFAULT_RELAY_PORT),
  ),
  relayHost: option(
    'RELAY_HOST',
    '--relay-host <host>',
    'Address the relay WebSocket server binds',
    z.string().min(1),
    '0.0.0.0',
  ),
  relayFallback: option(
    'RELAY_FALLBACK',
    '--relay-fallback <kind>',
    'Replies for a session this relay does not hold: drop (counted) or dead-letter (to {prefix}:out-dlq)',
    z.enum(['drop', 'dead-letter']),
    'dead-letter',
  ),
  relayResumeMs: option(
    'RELAY_RESUME_MS',
    '--relay-resume-ms <ms>',
    "How long a disconnected session's replies wait for its client to reconnect with ?session=<id>",
    intAtLeast(0),
    String(d.DEFAULT_RELAY_RESUME_MS),
  ),
  relayRetentionMs: option(
    'RELAY_RETENTION_MS',
    '--relay-retention-ms <ms>',
    'A relay silent this long is gone (a peer dead-letters its replies); older replies are not delivered',
    intAtLeast(100),
    String(d.DEFAULT_RELAY_RETENTION_MS),
  ),
  relayHttp: option(
    'RELAY_HTTP',
    '--relay-http <bool>',
    'The relay also delivers replies addressed to http(s):// URLs (the deliverer role)',
    bool,
    'true',
  ),
  httpMaxAttempts: option(
    'HTTP_MAX_ATTEMPTS',
    '--http-max-attempts <n>',
    'POST attempts for one HTTP reply before it is dead-lettered with the last status',
    intAtLeast(1, 100),
    String(d.DEFAULT_HTTP_MAX_ATTEMPTS),
  ),
  httpBackoffBaseMs: option(
    'HTTP_BACKOFF_BASE_MS',
    '--http-backoff-base-ms <ms>',
    'First delay between HTTP reply attempts; doubles per attempt, with jitter',
    intAtLeast(0),
    String(d.DEFAULT_HTTP_BACKOFF_BASE_MS),
  ),
  httpTimeoutMs: option(
    'HTTP_TIMEOUT_MS',
    '--http-timeout-ms <ms>',
    'Timeout of one HTTP reply POST',
    intAtLeast(10),
    String(d.DEFAULT_HTTP_TIMEOUT_MS),
  ),
  httpAllow: option(
    'HTTP_ALLOW',
    '--http-allow <prefixes>',
    'Comma-separated URL prefixes HTTP replies may go to (default: any); others are dead-lettered',
    commaList.superRefine((prefixes, ctx) => {
      for (const prefix of prefixes)
        if (!/^https?:\/\/[^/]+/.test(prefix))
          ctx.addIssue({
            code: 'custom',
            message: `${JSON.stringify(prefix.slice(0, 60))} is not an http(s)://host… prefix`,
          });
    }),
  ),
  tlsCaFile: option(
    'TLS_CA_FILE',
    '--tls-ca-file <path>',
    'CA bundle for rediss:// (default: system CAs)',
    z.string().min(1),
  ),
  tlsCertFile: option(
    'TLS_CERT_FILE',
    '--tls-cert-file <path>',
    'Client certificate for rediss:// (optional)',
    z.string().min(1),
  ),
  tlsKeyFile: option(
    'TLS_KEY_FILE',
    '--tls-key-file <path>',
    'Client key for rediss:// (optional)',
    z.string().min(1),
  ),
  tlsInsecure: option(
    'TLS_INSECURE',
    '--tls-insecure <bool>',
    'Disable certificate verification (logged loudly; never in production)',
    bool,
    'false',
  ),
} as const;

export type OptionKey = keyof typeof OPTIONS;

export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}
