import { z } from 'zod';
import * as d from './defaults.js';
import { type HttpAllowEntry, parseHttpAllowEntry } from './http-allow.js';
import { bool, commaList, intAtLeast, option, sensitive } from './option-schemas.js';

/**
 * Replies: the outbound queues, the relay's listener, fallback and retention, and HTTP delivery
 * (attempts, backoff, timeout, the allow list).
 */
export const OUTBOUND_OPTIONS = {
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
  httpAllow: sensitive(
    'url',
    option(
      'HTTP_ALLOW',
      '--http-allow <urls>',
      'Comma-separated http(s) URLs HTTP replies may go to: same scheme, host and port, path at or below (default: none); others are dead-lettered',
      commaList.transform((entries, ctx) => {
        const parsed: HttpAllowEntry[] = [];
        entries.forEach((value, index) => {
          try {
            parsed.push(parseHttpAllowEntry(value));
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: `entry ${index + 1} ${(error as Error).message}` });
          }
        });
        return parsed;
      }),
    ),
  ),
};
