import { z } from 'zod';
import * as d from './defaults.js';
import { bool, commaList, intAtLeast, name, option, sensitive } from './option-schemas.js';
import { parseRedisUrl } from './redis-url.js';

const redisUrl = z.string().superRefine((value, ctx) => {
  try {
    parseRedisUrl(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});
const redisUrlList = commaList.superRefine((urls, ctx) => {
  urls.forEach((value, index) => {
    try {
      parseRedisUrl(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `entry ${index + 1} ${(error as Error).message}` });
    }
  });
});

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

/**
 * Where the data lives and how it is laid out: the data Redis (or Cluster), the lock masters, the mode,
 * partitions, replication waits, the ingress channel and the key prefix.
 */
export const CONNECTION_OPTIONS = {
  redisUrl: sensitive(
    'url',
    option(
      'REDIS_URL',
      '--redis-url <url>',
      'Data Redis (redis://, rediss:// for TLS)',
      redisUrl,
      d.DEFAULT_REDIS_URL,
    ),
  ),
  lockUrls: sensitive(
    'url',
    option(
      'LOCK_URLS',
      '--lock-urls <urls>',
      'Comma-separated Redlock masters (default: the data Redis)',
      redisUrlList,
    ),
  ),
  mode: option(
    'MODE',
    '--mode <mode>',
    'Routing mode: lists or streams',
    z.enum(['lists', 'streams']),
    'lists',
  ),
  clusterNodes: sensitive(
    'url',
    option(
      'CLUSTER_NODES',
      '--cluster-nodes <nodes>',
      'Streams mode: Redis Cluster seed nodes, comma-separated host:port (auth and TLS as REDISPATCH_REDIS_URL); unset: the single Redis at REDISPATCH_REDIS_URL',
      clusterNodeList,
    ),
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
};

/**
 * TLS towards Redis (rediss://): CA, client certificate and key, and the loud opt-out of verification.
 */
export const REDIS_TLS_OPTIONS = {
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
};
