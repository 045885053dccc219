import { z } from 'zod';
import { commaList, intAtLeast, name, option, sensitive } from './option-schemas.js';

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

/**
 * How messages come in and are routed: the ingress (Redis pub/sub, NATS, JetStream), routing and
 * dedupe, and the standby's replay buffer.
 */
export const INTAKE_OPTIONS = {
  ingress: option(
    'INGRESS',
    '--ingress <kind>',
    'Where messages come from: redis (pub/sub), nats (core subject), jetstream (durable, lossless)',
    z.enum(['redis', 'nats', 'jetstream']),
    'redis',
  ),
  natsUrl: sensitive(
    'url',
    option(
      'NATS_URL',
      '--nats-url <url>',
      'NATS server(s), comma-separated: nats://[user:pass@|token@]host:port (tls:// for TLS)',
      natsUrlList,
      'nats://127.0.0.1:4222',
    ),
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
};
