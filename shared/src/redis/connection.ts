import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { endpointToOptions, parseRedisUrl, redactRedisUrl, type TlsSettings } from '../config/redis-url.js';
import { RedisUnavailableError } from '../errors.js';
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
    const reason = (lastError ?? (error as Error)).message;
    const shown = /^rediss?:/.test(url) ? redactRedisUrl(url) : url;
    throw new RedisUnavailableError(`${setting}: cannot connect to ${shown}: ${reason}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
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
