import { performance } from 'node:perf_hooks';
import type { Stats } from '@redispatch/shared';
import type { CheckResult } from './checker.js';
import type { CliProcess } from './cli-process.js';
import { type FaultCluster, rssMb, sleep } from './fault-cluster.js';

/** Memory figures in MB: Redis's used_memory and the RSS of each process role. */
export interface MemorySample {
  redis: number;
  leader: number;
  standby: number;
  worker: number;
}

export interface BurstOutcome {
  result: CheckResult;
  stats: Stats;
  drainedMs: number;
  base: MemorySample;
  peak: MemorySample & { backlog: number };
  /** One line for the fault table: rates, peak backlog, memory before → peak. */
  notes: string;
}

export interface BurstOptions {
  runId: string;
  count: number;
  /** Publisher rate in msg/s; scenario 10 sets it at ten times the fleet's drain rate. */
  rate: number;
  timeoutMs: number;
  /** Redis memory in MB: one server in lists mode, the sum of the masters in streams mode. */
  redisUsedMb: () => Promise<number>;
  /** How the notes name the Redis figure ("Redis", "cluster"). */
  redisLabel: string;
}

/**
 * Scenario 10 in either mode: publish a burst far above the drain rate while sampling backlog,
 * Redis memory and each process's RSS every 100 ms, then wait for every message to be handled.
 * The sampler runs until the drain ends so the peak covers the whole backlog, not the burst alone.
 */
export async function runBurst(fleet: FaultCluster, options: BurstOptions): Promise<BurstOutcome> {
  const leader = (await fleet.leader()).proc;
  const standby = [...fleet.dispatchers.values()].find((d) => d !== leader) as CliProcess;
  const worker = [...fleet.workers.values()][0] as CliProcess;
  const sample = async (): Promise<MemorySample> => ({
    redis: await options.redisUsedMb().catch(() => 0),
    leader: rssMb(leader.pid),
    standby: rssMb(standby.pid),
    worker: rssMb(worker.pid),
  });
  const base = await sample();
  const peak = { ...base, backlog: 0 };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const stats = await fleet.tryStats();
      const now = await sample();
      peak.backlog = Math.max(peak.backlog, stats?.backlog ?? 0);
      for (const key of ['redis', 'leader', 'standby', 'worker'] as const)
        peak[key] = Math.max(peak[key], now[key]);
      await sleep(100);
    }
  })();
  const burstAt = performance.now();
  const published = await fleet.publish(options.runId, options.count, options.rate);
  if (published.code !== 0) {
    sampling = false;
    await sampler;
    throw new Error(`publisher exited ${published.code}: ${published.output}`);
  }
  // "published N messages in S s (R msg/s)": the publisher's own rate, without its start-up time.
  const burstRate = Number(/\((\d+) msg\/s\)/.exec(published.output)?.[1] ?? Number.NaN);
  const result = await fleet.waitHandled(options.runId, options.count, options.timeoutMs);
  const drainedMs = performance.now() - burstAt;
  sampling = false;
  await sampler;
  const stats = await fleet.waitIdle();
  const drainRate = options.count / (drainedMs / 1000);
  const mb = (n: number) => n.toFixed(0);
  const notes =
    `burst ${burstRate}/s vs drain ${drainRate.toFixed(0)}/s; peak backlog ${peak.backlog}; ` +
    `${options.redisLabel} used ${base.redis.toFixed(1)}→${peak.redis.toFixed(1)} MB; ` +
    `RSS MB leader ${mb(base.leader)}→${mb(peak.leader)}, standby ${mb(base.standby)}→${mb(peak.standby)}, ` +
    `worker ${mb(base.worker)}→${mb(peak.worker)}`;
  return { result, stats, drainedMs, base, peak, notes };
}
