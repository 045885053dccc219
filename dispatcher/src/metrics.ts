import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Labelled counters start at 0 for every known label, so `increase()` sees the first event too. */
const STEPDOWN_REASONS = [
  'fenced',
  'renewal_failed',
  'lease_expired',
  'shutdown',
  'error',
  'ingress_lost',
  'pending_full',
] as const;
const REDELIVERY_REASONS = ['timeout', 'worker_lost'] as const;

/**
 * The dispatcher's metric families. Names are a contract (dashboards and alerts use them).
 * Cluster-wide gauges are set by the leader only and reset to 0 on step-down, so a sum over
 * dispatchers is not double counted.
 */
export function createDispatcherMetrics(registry: Registry) {
  const registers = [registry];
  const metrics = {
    leader: new Gauge({ name: 'redispatch_leader', help: '1 while this dispatcher leads', registers }),
    leaderEpoch: new Gauge({
      name: 'redispatch_leader_epoch',
      help: 'Fencing epoch of this leader (0 when standby)',
      registers,
    }),
    elections: new Counter({
      name: 'redispatch_elections_total',
      help: 'Times this dispatcher became leader',
      registers,
    }),
    stepdowns: new Counter({
      name: 'redispatch_stepdowns_total',
      help: 'Times this dispatcher stopped leading, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    received: new Counter({
      name: 'redispatch_messages_received_total',
      help: 'Messages received from ingress by the leader',
      registers,
    }),
    dispatched: new Counter({
      name: 'redispatch_messages_dispatched_total',
      help: 'Messages written into worker queues',
      registers,
    }),
    accepted: new Counter({
      name: 'redispatch_messages_accepted_total',
      help: 'Messages accepted (durably written) by the leader',
      registers,
    }),
    duplicates: new Counter({
      name: 'redispatch_messages_duplicate_total',
      help: 'Messages not written because their id was already stored (retried batch or replay)',
      registers,
    }),
    deduplicated: new Counter({
      name: 'redispatch_messages_deduplicated_total',
      help: 'Messages not routed because their publisher id was seen within REDISPATCH_DEDUPE_WINDOW_MS',
      registers,
    }),
    redelivered: new Counter({
      name: 'redispatch_messages_redelivered_total',
      help: 'Messages sent back to routing, by reason (timeout, worker_lost)',
      labelNames: ['reason'] as const,
      registers,
    }),
    deadLettered: new Counter({
      name: 'redispatch_messages_dead_lettered_total',
      help: 'Messages dead-lettered by the leader (oversize, malformed, attempts exhausted by timeout or worker loss)',
      registers,
    }),
    dlqTrimmed: new Counter({
      name: 'redispatch_dlq_trimmed_total',
      help: 'Dead letters removed, oldest first, to keep a dead-letter list or stream at REDISPATCH_DLQ_MAX (list: dlq, out-dlq)',
      labelNames: ['list'] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: 'redispatch_dispatch_batch_size',
      help: 'Messages per batch write',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    }),
    dispatchDuration: new Histogram({
      name: 'redispatch_dispatch_duration_seconds',
      help: 'Duration of one batch write (one script call)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    writeErrors: new Counter({
      name: 'redispatch_dispatch_errors_total',
      help: 'Batch writes that failed and were retried',
      registers,
    }),
    backlog: new Gauge({
      name: 'redispatch_backlog_messages',
      help: 'Accepted messages waiting for a worker with room',
      registers,
    }),
    delayed: new Gauge({
      name: 'redispatch_delayed_messages',
      help: 'Messages waiting in the delayed set',
      registers,
    }),
    inflight: new Gauge({
      name: 'redispatch_inflight_messages',
      help: 'Messages claimed by workers and not yet settled',
      registers,
    }),
    deadLetters: new Gauge({
      name: 'redispatch_dead_letter_messages',
      help: 'Messages in the dead-letter queue',
      registers,
    }),
    oldestInflightAge: new Gauge({
      name: 'redispatch_oldest_inflight_age_seconds',
      help: 'Age of the oldest claimed, unsettled message',
      registers,
    }),
    workerQueue: new Gauge({
      name: 'redispatch_worker_queue_messages',
      help: "Messages waiting in each live worker's queue",
      labelNames: ['worker'] as const,
      registers,
    }),
    liveWorkers: new Gauge({
      name: 'redispatch_live_workers',
      help: 'Workers with a fresh heartbeat',
      registers,
    }),
    paused: new Gauge({
      name: 'redispatch_flow_paused',
      help: '1 while the leader has routing paused (redispatch pause); set by the leader only',
      registers,
    }),
    released: new Counter({
      name: 'redispatch_flow_released_total',
      help: 'Messages the rate limit (REDISPATCH_RATE_LIMIT) let through to workers; what it holds back waits in Redis',
      registers,
    }),
    keyHeld: new Counter({
      name: 'redispatch_flow_key_held_total',
      help: 'Messages a per-key limit held back in Redis when the leader wrote them (REDISPATCH_KEY_CONCURRENCY: limit="concurrency", REDISPATCH_KEY_RATE_LIMIT: limit="rate")',
      labelNames: ['limit'] as const,
      registers,
    }),
    keysWaiting: new Gauge({
      name: 'redispatch_flow_keys_waiting',
      help: 'Affinity keys with messages held back by a per-key limit, as the leader last read it; set by the leader only',
      registers,
    }),
    scheduleRuns: new Counter({
      name: 'redispatch_schedule_runs_total',
      help: 'Schedule ticks the leader fired as a message (redispatch schedule add), by schedule',
      labelNames: ['schedule'] as const,
      registers,
    }),
    scheduleLag: new Histogram({
      name: 'redispatch_schedule_lag_seconds',
      help: "How late the leader fired a schedule tick: its message's write minus the tick's due time",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    pending: new Gauge({
      name: 'redispatch_ingress_pending_messages',
      help: 'Messages received by the leader and not yet written',
      registers,
    }),
    standbyBuffer: new Gauge({
      name: 'redispatch_standby_buffer_messages',
      help: 'Messages held in the standby replay buffer',
      registers,
    }),
    replayed: new Counter({
      name: 'redispatch_failover_replayed_total',
      help: 'Messages a new leader replayed from its standby buffer',
      registers,
    }),
    standbyCaughtUp: new Gauge({
      name: 'redispatch_standby_caught_up',
      help: "1 when this standby's buffer provably covers everything after the leader's progress marker",
      registers,
    }),
    standbyEvicted: new Counter({
      name: 'redispatch_standby_buffer_evicted_total',
      help: 'Messages dropped from the standby buffer by its count, byte or age limit (a replay could miss them)',
      registers,
    }),
    replayUnmatched: new Counter({
      name: 'redispatch_failover_replay_unmatched_total',
      help: "Takeovers whose buffer held no match for the old leader's progress marker (the whole buffer was replayed; duplicates possible)",
      registers,
    }),
    abandoned: new Counter({
      name: 'redispatch_messages_abandoned_total',
      help: 'Messages received but unwritten when this dispatcher stopped leading (covered by standby replay)',
      registers,
    }),
    streamLength: new Gauge({
      name: 'redispatch_stream_length_entries',
      help: 'Streams mode: entries in each partition stream (pending, undelivered and not yet trimmed)',
      labelNames: ['partition'] as const,
      registers,
    }),
    streamPending: new Gauge({
      name: 'redispatch_stream_pending_entries',
      help: "Streams mode: entries delivered and not yet acknowledged, per partition (the group's PEL)",
      labelNames: ['partition'] as const,
      registers,
    }),
    streamTrimmed: new Counter({
      name: 'redispatch_stream_trimmed_entries_total',
      help: 'Streams mode: acknowledged entries trimmed from the partition streams',
      registers,
    }),
    replicaWaitShort: new Counter({
      name: 'redispatch_replica_wait_short_total',
      help: 'Streams mode: batch writes fewer than REDISPATCH_WAIT_REPLICAS replicas acknowledged in time (retried)',
      registers,
    }),
  };
  for (const reason of STEPDOWN_REASONS) metrics.stepdowns.inc({ reason }, 0);
  for (const reason of REDELIVERY_REASONS) metrics.redelivered.inc({ reason }, 0);
  for (const limit of ['concurrency', 'rate'] as const) metrics.keyHeld.inc({ limit }, 0);
  return metrics;
}

export type DispatcherMetrics = ReturnType<typeof createDispatcherMetrics>;
