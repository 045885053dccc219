import { readFileSync } from 'node:fs';
import { type ConnectionOptions, connect, type NatsConnection } from 'nats';

export interface NatsSettings {
  urls: readonly string[];
  tlsCaFile?: string | undefined;
  name: string;
}

/**
 * Connects to NATS. Credentials ride in the URL (`nats://user:pass@host`, `nats://token@host`) and
 * are moved into the options so they never appear in server lists or logs. Errors name the setting.
 */
export async function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  };
  const servers: string[] = [];
  for (const raw of settings.urls) {
    const url = new URL(raw);
    if (url.username && url.password) {
      options.user = decodeURIComponent(url.username);
      options.pass = decodeURIComponent(url.password);
    } else if (url.username) {
      options.token = decodeURIComponent(url.username);
    }
    if (url.protocol === 'tls:') options.tls = {};
    servers.push(`${url.hostname}:${url.port || '4222'}`);
  }
  if (settings.tlsCaFile)
    options.tls = { ...(options.tls ?? {}), ca: readFileSync(settings.tlsCaFile, 'utf8') };
  options.servers = servers;
  try {
    return await connect(options);
  } catch (error) {
    // nats.js quotes the server's -ERR text; keep it one line and free of anything but the reason.
    const reason = (error as Error).message.replace(/\s+/g, ' ').trim();
    throw new Error(
      `REDISPATCH_NATS_URL: cannot connect to ${servers.join(',')}: ${reason}${natsHint(reason)}`,
      {
        cause: error,
      },
    );
  }
}

/** Which setting a NATS connection failure points at. */
function natsHint(reason: string): string {
  if (/authorization violation|authentication/i.test(reason))
    return ' (check the user:password@ or token@ in REDISPATCH_NATS_URL)';
  if (/certificate|self.signed|unable to verify/i.test(reason))
    return ' (the server certificate is not trusted: set REDISPATCH_NATS_TLS_CA_FILE to the CA that signed it)';
  return '';
}
