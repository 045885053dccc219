import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RedisOptions } from 'ioredis';
import { ListenedConnector } from '../redis/listened-connector.js';

/** TLS material for `rediss://` connections. Verification is on unless `insecure` is set explicitly. */
export interface TlsSettings {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  insecure: boolean;
}

/** A parsed Redis endpoint. `password` never leaves this object except into the client options. */
export interface RedisEndpoint {
  host: string;
  port: number;
  db: number;
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
}

const DEFAULT_REDIS_PORT = 6379;

/**
 * Parses `redis://[user[:pass]@]host[:port][/db]` and `rediss://…`. Throws a plain Error whose
 * message never contains the password; the config loader prefixes it with the setting's name.
 */
export function parseRedisUrl(raw: string): RedisEndpoint {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('is not a URL (expected redis://host:port/db or rediss://…)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`has scheme "${url.protocol.replace(/:$/, '')}" (expected redis or rediss)`);
  }
  if (!url.hostname) throw new Error('has no host');
  const port = url.port ? Number(url.port) : DEFAULT_REDIS_PORT;
  const dbPath = url.pathname.replace(/^\//, '');
  const db = dbPath === '' ? 0 : Number(dbPath);
  // The path is not echoed: a mistyped URL can put a password there (e.g. two URLs run together).
  if (!/^\d+$/.test(dbPath === '' ? '0' : dbPath) || !Number.isSafeInteger(db))
    throw new Error('has a database path that is not a number >= 0 (expected redis://host:port/db)');
  if (url.hostname.includes(','))
    throw new Error('has a comma in its host (one URL here; a list belongs in REDISPATCH_LOCK_URLS)');
  return {
    // URL keeps IPv6 literals in brackets; the socket API wants them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:',
  };
}

/** The URL with any password replaced, safe for logs and `stats`. */
export function redactRedisUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable url>';
  }
}

/** ioredis connection options for an endpoint (role-specific options are added by the connection factory). */
export function endpointToOptions(endpoint: RedisEndpoint, tls: TlsSettings): RedisOptions {
  const options: RedisOptions = {
    // Every socket keeps an 'error' listener for as long as it lives (see ListenedConnector).
    Connector: ListenedConnector,
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    username: endpoint.username,
    password: endpoint.password,
  };
  if (endpoint.tls) {
    options.tls = {
      // SNI must be a host name (RFC 6066); for an IP address the certificate's IP SAN is checked instead.
      servername: isIP(endpoint.host) ? undefined : endpoint.host,
      rejectUnauthorized: !tls.insecure,
      ca: tls.caFile ? readFileSync(tls.caFile) : undefined,
      cert: tls.certFile ? readFileSync(tls.certFile) : undefined,
      key: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
    };
  }
  return options;
}
