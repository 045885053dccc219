import { readFile } from 'node:fs/promises';
import type { Config } from '@redispatch/shared';
import { loadAuthHook } from './auth-hook.js';
import { SocketGateway, type SocketGatewayOptions } from './socket-gateway.js';

/** Largest envelope header the relay adds: 3 fixed bytes, replyTo (1 + up to 255), timestamp (8). */
const ENVELOPE_OVERHEAD_BYTES = 3 + 256 + 8;
/** What an identity adds: the extension block's length (2), the record's type and length (3), 1024 bytes. */
const IDENTITY_OVERHEAD_BYTES = 2 + 3 + 1024;

/** What the relay hands the gateway; the rest of its options come from the configuration. */
export type GatewayParts = Pick<
  SocketGatewayOptions,
  'relayId' | 'sessions' | 'binding' | 'router' | 'publisher' | 'metrics' | 'log'
>;

/**
 * The relay's WebSocket side as configured: admission (Origin allowlist, auth hook), TLS when a
 * certificate is given, and the limits. Listening when it resolves; warns when it admits anyone.
 */
export async function openSocketGateway(
  c: Config,
  parts: GatewayParts,
): Promise<{ gateway: SocketGateway; port: number }> {
  const auth = c.relayAuth === undefined ? undefined : await loadAuthHook(c.relayAuth);
  const tls =
    c.relayTlsCertFile === undefined || c.relayTlsKeyFile === undefined
      ? undefined
      : { cert: await readFile(c.relayTlsCertFile), key: await readFile(c.relayTlsKeyFile) };
  const overhead = ENVELOPE_OVERHEAD_BYTES + (auth ? IDENTITY_OVERHEAD_BYTES : 0);
  const gateway = new SocketGateway({
    ...parts,
    host: c.relayHost,
    port: c.relayPort,
    // Room for the envelope the relay adds (marker, version, flags, replyTo, timestamp, identity),
    // so an accepted frame is never dead-lettered as oversize by the dispatcher.
    maxPayload: Math.max(1, c.maxPayloadBytes - overhead),
    maxConnections: c.relayMaxConnections,
    idleMs: c.relayIdleMs,
    tls,
    admission: { sessions: parts.sessions, origins: c.relayOrigins, auth },
  });
  const port = await gateway.listen();
  if (!c.relayOrigins && !auth)
    parts.log.warn(
      'relay accepts any client: set REDISPATCH_RELAY_ORIGINS and/or REDISPATCH_RELAY_AUTH before exposing it (docs/relay.md)',
    );
  return { gateway, port };
}
