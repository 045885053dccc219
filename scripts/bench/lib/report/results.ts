/** What a bench run records: one result type per scenario and the report that holds them all (the JSON file). */
import type { LatencySummary } from '../hist.js';
import type { Delivery } from '../payload.js';

export interface ThroughputResult {
  system: string;
  workers: number;
  size: number;
  round: number;
  count: number;
  seconds: number;
  msgPerSec: number;
  publishPerSec: number;
  redisCpuUsPerMsg: number;
  /** CPU % per role over the run (100 = one core). */
  cpuPercent: Record<string, number>;
  /** CPU time per message per role (µs), from /proc: robust to other load on the machine. */
  cpuUsPerMsg: Record<string, number>;
  delivery: Delivery;
  commandStats: { command: string; calls: number; usec: number; usecPerMsg: number; callsPerMsg: number }[];
}

export interface LatencyResult {
  system: string;
  workers: number;
  label: string;
  offeredRate: number;
  seconds: number;
  count: number;
  achievedRate: number;
  publisherMaxLagMs: number;
  /** How late the publisher sent each message after its scheduled time (part of both latencies). */
  publisherSendLag: LatencySummary | null;
  handler: LatencySummary | null;
  ack: LatencySummary | null;
  ackMethod: string;
  delivery: Delivery;
}

export interface RssResult {
  workers: number;
  steadyRate: number;
  burstRate: number;
  burstSeconds: number;
  steady: Record<string, number>;
  burstPeak: Record<string, number>;
  afterDrain: Record<string, number>;
  redisPeakUsedMemory: number;
  burstDrainSeconds: number;
  burstPublishSeconds: number;
}

export interface FailoverResult {
  rate: number;
  leaseMs: number;
  seconds: number;
  kills: { electedMs: number; dispatchingMs: number }[];
  medianElectedMs: number;
  maxElectedMs: number;
  medianDispatchingMs: number;
  maxDispatchingMs: number;
  delivery: Delivery;
  /** One graceful stop of the leader after the kills: time to the new epoch and to dispatching. */
  sigterm: { electedMs: number; dispatchingMs: number } | null;
  failoverReplayed: number;
  redelivered: number;
}

export interface DelayResult {
  delayMs: number;
  rate: number;
  count: number;
  /** Handler time minus the due time, ms. */
  latenessMs: { p50: number; p99: number; p999: number; max: number } | null;
  delivery: Delivery;
}

export interface MemoryResult {
  system: string;
  size: number;
  count: number;
  parked: number;
  usedMemoryBefore: number;
  usedMemoryAfter: number;
  bytesPerMessage: number;
  overheadPerMessage: number;
}

export interface Report {
  options: Record<string, unknown>;
  environment: {
    date: string;
    node: string;
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    loadavgAtStart: number[];
    redis: string;
    bullmq: string;
    beeQueue: string;
    ioredis: string;
    gitHead: string;
    gitDirty: number;
  };
  throughput: ThroughputResult[];
  latency: LatencyResult[];
  latencyMax: number;
  latencyRates: { rate: number; label: string }[];
  latencySkipped: { system: string; rate: number; label: string; ownMax: number }[];
  rss: RssResult | null;
  failover: FailoverResult | null;
  delay?: DelayResult;
  memory: MemoryResult[];
  errors: string[];
  logDir: string;
  elapsedSeconds: number;
}
