import { z } from 'zod';
import * as d from './defaults.js';
import { commaList, intAtLeast, option, sensitive } from './option-schemas.js';

/** Origins as the browser sends them (`scheme://host[:port]`), each checked and normalised once. */
const originList = commaList.transform((entries, ctx) => {
  const origins: string[] = [];
  entries.forEach((entry, index) => {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== entry.replace(/\/$/, '')) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} is not an origin like https://app.example.com (scheme, host, optional port; no path)`,
      });
      return;
    }
    origins.push(url.origin);
  });
  return origins;
});

/**
 * The relay's limits and admission settings: what keeps one process that strangers reach alive,
 * fair between its clients, and closed to those not allowed in (threat model: docs/relay.md).
 */
export const RELAY_OPTIONS = {
  relayMaxPending: option(
    'RELAY_MAX_PENDING',
    '--relay-max-pending <n>',
    'Frames one session may have awaiting their first reply; past it the relay stops reading that socket until replies arrive',
    intAtLeast(1, 1_000_000),
    String(d.DEFAULT_RELAY_MAX_PENDING),
  ),
  relayPendingTimeoutMs: option(
    'RELAY_PENDING_TIMEOUT_MS',
    '--relay-pending-timeout-ms <ms>',
    'A frame with no reply after this long stops counting against REDISPATCH_RELAY_MAX_PENDING (handlers that never reply)',
    intAtLeast(100),
    String(d.DEFAULT_RELAY_PENDING_TIMEOUT_MS),
  ),
  relayFrameRate: option(
    'RELAY_FRAME_RATE',
    '--relay-frame-rate <n>',
    'Frames per second one session may send (a token bucket holding one second of frames); past it the relay stops reading that socket for a while. 0: no limit',
    intAtLeast(0, 1_000_000),
    '0',
  ),
  relayMaxConnections: option(
    'RELAY_MAX_CONNECTIONS',
    '--relay-max-connections <n>',
    'Open WebSockets one relay holds (also its cap on detached sessions); a connection past it is refused with 503',
    intAtLeast(1, 10_000_000),
    String(d.DEFAULT_RELAY_MAX_CONNECTIONS),
  ),
  relayIdleMs: option(
    'RELAY_IDLE_MS',
    '--relay-idle-ms <ms>',
    'A socket that answers no ping and sends nothing for this long is closed (pings every third of it); 0: never',
    intAtLeast(0),
    String(d.DEFAULT_RELAY_IDLE_MS),
  ),
  relayMaxBufferedBytes: option(
    'RELAY_MAX_BUFFERED_BYTES',
    '--relay-max-buffered-bytes <bytes>',
    'Reply bytes one session may have unsent (socket buffer plus replies waiting for a resume); a slow reader past it is closed (4008) and further replies go to the fallback as overflow',
    intAtLeast(1024),
    String(d.DEFAULT_RELAY_MAX_BUFFERED_BYTES),
  ),
  relayMemoryBudgetBytes: option(
    'RELAY_MEMORY_BUDGET_BYTES',
    '--relay-memory-budget-bytes <bytes>',
    'Reply bytes the whole relay holds unsent; while over it, it takes no more replies from Redis (they wait there)',
    intAtLeast(1024),
    String(d.DEFAULT_RELAY_MEMORY_BUDGET_BYTES),
  ),
  relayOrigins: sensitive(
    'url',
    option(
      'RELAY_ORIGINS',
      '--relay-origins <origins>',
      'Comma-separated browser origins allowed to connect (e.g. https://app.example.com); a request with another Origin header is refused with 403. Unset: any origin',
      originList,
    ),
  ),
  relayAuth: option(
    'RELAY_AUTH',
    '--relay-auth <module>',
    'Module whose default export authenticates each upgrade request: returns an identity (passed to handlers as msg.header.identity) or refuses (401)',
    z.string().min(1),
  ),
  relayTlsCertFile: option(
    'RELAY_TLS_CERT_FILE',
    '--relay-tls-cert-file <path>',
    'Certificate chain (PEM) for wss:// on the relay itself; set together with --relay-tls-key-file',
    z.string().min(1),
  ),
  relayTlsKeyFile: option(
    'RELAY_TLS_KEY_FILE',
    '--relay-tls-key-file <path>',
    'Private key (PEM) for wss:// on the relay itself; set together with --relay-tls-cert-file',
    z.string().min(1),
  ),
} as const;

/** Relay settings that only make sense together. */
export function relayOptionProblems(values: Record<string, unknown>): string[] {
  const cert = values.relayTlsCertFile !== undefined;
  const key = values.relayTlsKeyFile !== undefined;
  return cert === key
    ? []
    : [
        'REDISPATCH_RELAY_TLS_CERT_FILE and REDISPATCH_RELAY_TLS_KEY_FILE go together: set both for wss://, or neither',
      ];
}
