import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** `inflight`: read at scrape time for redispatch_worker_inflight (no per-message gauge update). */
export function createWorkerMetrics(registry: Registry, inflight?: () => number) {
  const registers = [registry];
  return {
    acked: new Counter({
      name: 'redispatch_messages_acked_total',
      help: 'Messages this worker acked',
      registers,
    }),
    nacked: new Counter({
      name: 'redispatch_messages_nacked_total',
      help: 'Messages this worker nacked (handler threw), retried or dead-lettered',
      registers,
    }),
    deadLettered: new Counter({
      name: 'redispatch_worker_dead_lettered_total',
      help: 'Nacks that exhausted max attempts and went to the dead-letter queue',
      registers,
    }),
    stale: new Counter({
      name: 'redispatch_worker_stale_settles_total',
      help: 'Acks/nacks refused because the claim had expired and the message was redelivered',
      registers,
    }),
    timeouts: new Counter({
      name: 'redispatch_handler_timeouts_total',
      help: 'Messages past the ack deadline here: handlers still running, or prefetched ones never started (the leader redelivers them)',
      registers,
    }),
    handlerDuration: new Histogram({
      name: 'redispatch_handler_duration_seconds',
      help: 'Handler run time',
      labelNames: ['outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    endToEnd: new Histogram({
      name: 'redispatch_end_to_end_latency_seconds',
      help: 'Publish to ack, for messages whose envelope carries a publish timestamp',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    replies: new Counter({
      name: 'redispatch_worker_replies_total',
      help: 'Handler replies: queued for delivery, dead-lettered (outbound full, unknown relay), unaddressed (no reply address redispatch delivers to)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    reclaimed: new Counter({
      name: 'redispatch_worker_reclaimed_total',
      help: 'Streams mode: entries this worker took over (XCLAIM) after they sat unacknowledged past the ack timeout',
      registers,
    }),
    inflight: new Gauge({
      name: 'redispatch_worker_inflight',
      help: 'Handlers running now',
      registers,
      collect() {
        if (inflight) this.set(inflight());
      },
    }),
    lastProgress: new Gauge({
      name: 'redispatch_worker_last_progress_timestamp_seconds',
      help: 'Unix time of the last message this worker settled',
      registers,
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Metrics of the handler process pool (`isolate`); registered only by a worker that uses one. */
export function createIsolateMetrics(registry: Registry) {
  const registers = [registry];
  return {
    restarts: new Counter({
      name: 'redispatch_worker_isolate_restarts_total',
      help: 'Handler processes replaced, by why the old one ended (exit, signal, memory, timeout, start_failed)',
      labelNames: ['reason'] as const,
      registers,
    }),
    processes: new Gauge({
      name: 'redispatch_worker_isolate_processes',
      help: 'Handler processes ready to run messages',
      registers,
    }),
  };
}

export type IsolateMetrics = ReturnType<typeof createIsolateMetrics>;
