import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { endpointToOptions, parseRedisUrl, redactRedisUrl, type TlsSettings } from '../config/redis-url.js';
import { ConfigError, RedisUnavailableError } from '../errors.js';
import { defineScripts } from './scripts.js';

/**
 * What a connection is for decides how it behaves when Redis is slow or gone:
 * - `command`: request path (leader writes, worker claims/acks). Fails fast: no offline queue, a
 *   command timeout, and no re-sending of unanswered commands after a reconnect — a stale leader's
 *   write must not be replayed late (the fence would catch it, but it must not even be tried).
 * - `blocking`: BLMOVE wake-ups; no command timeout (the block has its own), retried forever.
 * - `subscriber`: SUBSCRIBE; reconnects and resubscribes by itself.
 * - `lock`: a Redlock master; a down master must answer "no" quickly rather than stall the quorum.
 */
/** Longest block a blocking read asks for (the worker's BLMOVE wait); see the blocking role. */
export const BLOCKING_READ_MAX_MS = 1_000;

export type ConnectionRole = 'command' | 'blocking' | 'subscriber' | 'lock';

export interface ConnectionSettings {
  url: string;
  tls: TlsSettings;
  commandTimeoutMs: number;
  name: string;
}

export function roleOptions(role: ConnectionRole, commandTimeoutMs: number): RedisOptions {
  const reconnect: RedisOptions = {
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    lazyConnect: true,
  };
  switch (role) {
    case 'command':
      return {
        ...reconnect,
        enableOfflineQueue: false,
        commandTimeout: commandTimeoutMs,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
      };
    case 'blocking':
      // The only blocking command is a non-destructive BLMOVE rotation, so re-sending it after a
      // reconnect is harmless; and a timeout longer than any block means a reply lost with a dead
      // server rejects instead of leaving the take loop waiting forever (seen after a Redis restart).
      return {
        ...reconnect,
        enableOfflineQueue: false,
        maxRetriesPerRequest: null,
        autoResendUnfulfilledCommands: true,
        commandTimeout: commandTimeoutMs + BLOCKING_READ_MAX_MS,
      };
    case 'subscriber':
      return { ...reconnect, maxRetriesPerRequest: null, autoResubscribe: true };
    case 'lock':
      return {
        ...reconnect,
        enableOfflineQueue: false,
        commandTimeout: commandTimeoutMs,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      };
  }
}

/** Creates a client for one role, with our scripts defined on it. Call `connectOrThrow` before use. */
export function createConnection(role: ConnectionRole, settings: ConnectionSettings): Redis {
  const endpoint = parseRedisUrl(settings.url);
  const client = new Redis({
    ...endpointToOptions(endpoint, settings.tls),
    ...roleOptions(role, settings.commandTimeoutMs),
    connectionName: settings.name,
  });
  // Errors surface through the commands that fail; an unhandled 'error' event would crash the process.
  client.on('error', () => {});
  defineScripts(client);
  return client;
}

const CERT_VERIFY_FAILURE = /certificate|self.signed|unable to verify|UNABLE_TO_GET_ISSUER/i;
const HANDSHAKE_DROPPED = /ECONNRESET|EPIPE|socket hang up|alert|Connection is closed/i;

/**
 * What a TLS failure usually means, naming the setting to look at: a server that drops the
 * handshake (`--tls-auth-clients yes`) reports nothing better than a reset connection.
 */
function tlsHint(reason: string, tls: RedisOptions['tls']): string {
  if (!tls) return '';
  if (CERT_VERIFY_FAILURE.test(reason) && !/alert/i.test(reason))
    return ' (the server certificate is not trusted: set REDISPATCH_TLS_CA_FILE to the CA that signed it)';
  if (HANDSHAKE_DROPPED.test(reason) && !tls.cert)
    return ' (the server may require a client certificate: set REDISPATCH_TLS_CERT_FILE and REDISPATCH_TLS_KEY_FILE)';
  return '';
}

/**
 * Why a cluster connection failed. ioredis reports only "Failed to refresh slots cache." (its
 * `lastNodeError` is at best "Connection is closed."): it asks the seeds on throwaway connections
 * whose errors it drops. So ask the first seed once on a plain connection with the same options,
 * which fails with the reason itself (a refused certificate, WRONGPASS, ECONNREFUSED). A seed that
 * answers is asked whether it is a cluster node at all (a plain Redis refuses CLUSTER SLOTS).
 */
async function probeSeed(
  cluster: Cluster,
  timeoutMs: number,
): Promise<{ reason: string } | { notCluster: string } | undefined> {
  const seed = (cluster as unknown as { startupNodes?: { host?: string; port?: number }[] })
    .startupNodes?.[0];
  if (!seed?.port) return undefined;
  const probe = new Redis({
    ...cluster.options.redisOptions,
    host: seed.host ?? '127.0.0.1',
    port: seed.port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  let seen: Error | undefined;
  probe.on('error', (error: Error) => {
    seen ??= error;
  });
  try {
    await probe.connect();
    const info = await probe.info('cluster');
    if (/^cluster_enabled:0/m.test(info)) return { notCluster: `${seed.host ?? '127.0.0.1'}:${seed.port}` };
    return undefined;
  } catch (error) {
    return { reason: (seen ?? (error as Error)).message };
  } finally {
    probe.disconnect();
  }
}

/**
 * Connects, waiting at most `timeoutMs`. The error names the setting and the redacted URL, so a
 * typo in REDISPATCH_REDIS_URL is one readable line, not a reconnect loop.
 */
export async function connectOrThrow(
  client: Redis | Cluster,
  url: string,
  setting: string,
  timeoutMs: number,
): Promise<void> {
  let lastError: Error | undefined;
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(lastError ? lastError.message : `no answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    client.disconnect();
    // OpenSSL's messages end in a newline; the error must stay one line (the CLI prints only the first).
    let reason = (lastError ?? (error as Error)).message;
    if (client instanceof Cluster) {
      const seed = await probeSeed(client, Math.min(timeoutMs, 5_000));
      if (seed && 'notCluster' in seed) {
        throw new ConfigError(
          [
            `${setting}: the Redis at ${seed.notCluster} is not in cluster mode (cluster_enabled:0); name Redis Cluster nodes there, or unset ${setting} to use the single Redis at REDISPATCH_REDIS_URL`,
          ],
          { cause: error },
        );
      }
      if (seed && seed.reason !== reason) reason = `${reason.replace(/\.$/, '')}: ${seed.reason}`;
    }
    reason = reason.replace(/\s+/g, ' ').trim();
    const shown = /^rediss?:/.test(url) ? redactRedisUrl(url) : url;
    const tls = client instanceof Redis ? client.options.tls : client.options.redisOptions?.tls;
    throw new RedisUnavailableError(
      `${setting}: cannot connect to ${shown}: ${reason}${tlsHint(reason, tls)}`,
      {
        cause: error,
      },
    );
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
  }
  if (client instanceof Redis) await assertDatabaseExists(client, url, setting);
}

/**
 * ioredis sends the URL's SELECT after connecting and only emits its failure as an 'error' event,
 * so a `/99` on a server with 16 databases would run on database 0, silently. Selecting it again
 * here surfaces the refusal before anything is read or written.
 */
async function assertDatabaseExists(client: Redis, url: string, setting: string): Promise<void> {
  const db = client.options.db ?? 0;
  if (db === 0) return;
  try {
    await client.select(db);
  } catch (error) {
    // How many there are, where this user may ask (CONFIG is not in the least-privilege ACLs).
    const count = await client.config('GET', 'databases').then(
      (reply) => Number((reply as string[])[1]) || undefined,
      () => undefined,
    );
    client.disconnect();
    const shown = /^rediss?:/.test(url) ? redactRedisUrl(url) : url;
    const reason = (error as Error).message.replace(/\s+/g, ' ').trim();
    const has = count === undefined ? 'fewer databases' : `databases 0 to ${count - 1}`;
    throw new ConfigError(
      [
        /out of range/i.test(reason)
          ? `${setting}: database ${db} does not exist on ${shown} (the server has ${has}; see its "databases" setting)`
          : `${setting}: cannot select database ${db} on ${shown}: ${reason}`,
      ],
      { cause: error },
    );
  }
}

/** Closes a client without throwing: QUIT when connected, else drop the socket. */
export async function closeQuietly(client: Redis | Cluster): Promise<void> {
  try {
    if (client.status === 'ready') {
      await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 500))]);
    }
  } catch {
    // Closing is best effort; the socket is dropped below either way.
  }
  client.disconnect();
}
