import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Why a reply was not delivered on a socket (a small, fixed label set). */
export type UndeliverableReason =
  | 'unknown_session'
  | 'session_expired'
  | 'expired'
  | 'malformed'
  | 'wrong_relay'
  | 'relay_gone'
  /** The address carries no binding this relay minted for that session (a forged reply target). */
  | 'unbound'
  /** The session already held REDISPATCH_RELAY_MAX_BUFFERED_BYTES of unsent replies. */
  | 'session_overflow';

/** Why the relay refused or cut a client (a small, fixed label set). */
export type RefusalReason =
  | 'origin'
  | 'unauthorized'
  | 'auth_error'
  | 'bad_resume'
  | 'unknown_session'
  | 'connection_limit'
  | 'draining'
  | 'slow_reader'
  | 'idle'
  | 'held_pending'
  | 'held_rate';

export function createRelayMetrics(registry: Registry) {
  const registers = [registry];
  return {
    sessions: new Gauge({
      name: 'redispatch_relay_sessions',
      help: 'Sessions this relay holds: attached (socket open) or detached (waiting for a resume)',
      labelNames: ['state'] as const,
      registers,
    }),
    frames: new Counter({
      name: 'redispatch_relay_frames_in_total',
      help: 'Inbound WebSocket frames: published, unrouted (no dispatcher subscribed), failed (publish error)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    delivered: new Counter({
      name: 'redispatch_relay_replies_delivered_total',
      help: 'Replies written to their session socket',
      registers,
    }),
    undeliverable: new Counter({
      name: 'redispatch_relay_undeliverable_total',
      help: 'Replies not delivered to a socket, by reason (then dropped or dead-lettered per REDISPATCH_RELAY_FALLBACK)',
      labelNames: ['reason'] as const,
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'redispatch_relay_delivery_latency_seconds',
      help: 'Reply queued by the worker (Redis time) to written on the socket or POSTed',
      labelNames: ['target'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    http: new Counter({
      name: 'redispatch_relay_http_deliveries_total',
      help: 'HTTP reply attempts by outcome: delivered, retried, dead_lettered',
      labelNames: ['outcome'] as const,
      registers,
    }),
    refused: new Counter({
      name: 'redispatch_relay_refusals_total',
      help: 'Clients refused or cut, by reason: origin, unauthorized, auth_error, bad_resume, unknown_session, connection_limit, draining (upgrade refused); slow_reader, idle (socket closed); held_pending, held_rate (socket reading paused)',
      labelNames: ['reason'] as const,
      registers,
    }),
    deadLetters: new Gauge({
      name: 'redispatch_relay_outbound_dead_letters',
      help: 'Entries in the outbound dead-letter list ({prefix}:out-dlq)',
      registers,
    }),
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;
