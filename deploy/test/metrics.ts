/**
 * The metric names redispatch exports (the product contract): dashboards, alerts and KEDA queries
 * may use only these, prom-client's default process / Node.js metrics, and `up`.
 */
export const DISPATCHER_METRICS = {
  redispatch_leader: 'gauge',
  redispatch_leader_epoch: 'gauge',
  redispatch_elections_total: 'counter',
  redispatch_stepdowns_total: 'counter',
  redispatch_messages_received_total: 'counter',
  redispatch_messages_dispatched_total: 'counter',
  redispatch_messages_redelivered_total: 'counter',
  redispatch_messages_dead_lettered_total: 'counter',
  redispatch_dispatch_batch_size: 'histogram',
  redispatch_dispatch_duration_seconds: 'histogram',
  redispatch_backlog_messages: 'gauge',
  redispatch_delayed_messages: 'gauge',
  redispatch_inflight_messages: 'gauge',
  redispatch_dead_letter_messages: 'gauge',
  redispatch_worker_queue_messages: 'gauge',
  redispatch_live_workers: 'gauge',
  redispatch_flow_paused: 'gauge',
  redispatch_flow_released_total: 'counter',
  redispatch_flow_key_held_total: 'counter',
  redispatch_flow_keys_waiting: 'gauge',
  redispatch_schedule_runs_total: 'counter',
  redispatch_schedule_lag_seconds: 'histogram',
  redispatch_standby_buffer_messages: 'gauge',
  redispatch_failover_replayed_total: 'counter',
  redispatch_oldest_inflight_age_seconds: 'gauge',
} as const;

export const WORKER_METRICS = {
  redispatch_messages_acked_total: 'counter',
  redispatch_messages_nacked_total: 'counter',
  redispatch_handler_duration_seconds: 'histogram',
  redispatch_end_to_end_latency_seconds: 'histogram',
  redispatch_worker_inflight: 'gauge',
  redispatch_worker_last_progress_timestamp_seconds: 'gauge',
} as const;

const ALL = { ...DISPATCHER_METRICS, ...WORKER_METRICS } as Record<string, string>;

/** Series names a query may select: histograms expose _bucket, _sum and _count only. */
export const ALLOWED_SERIES: ReadonlySet<string> = new Set(
  Object.entries(ALL).flatMap(([name, type]) =>
    type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
  ),
);

/** prom-client's collectDefaultMetrics() names, plus Prometheus's own `up`. */
export function isDefaultMetric(name: string): boolean {
  return name === 'up' || /^(process|nodejs)_[a-z0-9_]+$/.test(name);
}

export function isAllowedMetric(name: string): boolean {
  return ALLOWED_SERIES.has(name) || isDefaultMetric(name);
}

const FUNCTION_LIKE = /^[a-zA-Z_][a-zA-Z0-9_]*\s*\(/;
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'atan2',
  'inf',
  'nan',
]);

/**
 * Metric names a PromQL expression selects. A small lexer, enough for dashboards and alerts:
 * it drops strings, label matchers, ranges, grouping clauses, Grafana variables and numbers,
 * then keeps identifiers that are not functions or keywords.
 */
export function metricNames(expr: string): string[] {
  const rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  const identifier = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let match = identifier.exec(rest); match !== null; match = identifier.exec(rest)) {
    const word = match[0];
    const before = rest[match.index - 1];
    // Part of a number such as 1e3 or 0x1f, or a duration unit such as 5m.
    if (before !== undefined && /[0-9.]/.test(before)) continue;
    if (FUNCTION_LIKE.test(rest.slice(match.index))) continue;
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return [...new Set(names)];
}
