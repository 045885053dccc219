/** Scenario 1: throughput, publish -> ack at full speed, with CPU and Redis command costs per message. */
import { mergeDelivery } from '../lib/payload.js';
import { commandStats, commandStatsDelta, redisCpuSeconds } from '../lib/redis.js';
import type { Report, ThroughputResult } from '../lib/report/results.js';
import type { System, SystemName } from '../lib/systems/system.js';
import { median, nowUs, round, runId } from '../lib/util.js';
import { log } from './context.js';
import { options } from './options.js';

export async function warmup(system: System): Promise<void> {
  const id = runId('w');
  const base = await system.acked();
  await system.publishFull(id, options.warmup, 100);
  await system.loadDone(30_000);
  await system.waitAcked(base + options.warmup, 30_000);
  await system.dump(id);
}

function cpuPercent(before: Record<string, number>, after: Record<string, number>, seconds: number) {
  const out: Record<string, number> = {};
  for (const [role, cpu] of Object.entries(after))
    out[role] = round((100 * (cpu - (before[role] ?? 0))) / seconds);
  return out;
}

// ------------------------------------------------------------------------------------ 1. throughput

export async function throughputRun(system: System, size: number, round_: number): Promise<ThroughputResult> {
  // BullMQ drains ~5x slower: fewer jobs keep its runs as long as the others' (still seconds of steady state).
  const n = system.name === 'bullmq' ? Math.round(options.count(size) / 2.5) : options.count(size);
  const id = runId('t');
  const base = await system.acked();
  const admin = system.redis.admin;
  const [cpu0, redisCpu0, stats0] = [
    await system.cpu(),
    await redisCpuSeconds(admin),
    await commandStats(admin),
  ];
  const wall0 = nowUs();
  const t0 = await system.publishFull(id, n, size);
  const tEnd = await system.waitAcked(base + n, Math.max(60_000, n / 0.5));
  const wall1 = nowUs();
  const [cpu1, redisCpu1, stats1] = [
    await system.cpu(),
    await redisCpuSeconds(admin),
    await commandStats(admin),
  ];
  const done = await system.loadDone(60_000);
  const dumps = await system.dump(id);
  const delivery = mergeDelivery(
    dumps.map((d) => d.counts),
    n,
  );
  const seconds = (tEnd - t0) / 1e6;
  const result: ThroughputResult = {
    system: system.name,
    workers: system.workerCount,
    size,
    round: round_,
    count: n,
    seconds: round(seconds, 3),
    msgPerSec: round(n / seconds),
    publishPerSec: done.t1 ? round(n / ((done.t1 - done.t0) / 1e6)) : Number.NaN,
    redisCpuUsPerMsg: round(((redisCpu1 - redisCpu0) * 1e6) / n, 1),
    cpuPercent: cpuPercent(cpu0, cpu1, (wall1 - wall0) / 1e6),
    cpuUsPerMsg: Object.fromEntries(
      Object.entries(cpu1).map(([role, cpu]) => [role, round(((cpu - (cpu0[role] ?? 0)) * 1e6) / n, 1)]),
    ),
    delivery,
    commandStats: commandStatsDelta(stats0, stats1)
      .slice(0, 10)
      .map((c) => ({ ...c, usecPerMsg: round(c.usec / n, 2), callsPerMsg: round(c.calls / n, 3) })),
  };
  log(
    `  ${system.name} w=${result.workers} ${size}B: ${result.msgPerSec} msg/s (${result.seconds}s), redis ${result.redisCpuUsPerMsg} µs/msg, cpu% ${JSON.stringify(result.cpuPercent)}, cpu µs/msg ${JSON.stringify(result.cpuUsPerMsg)}, lost ${delivery.lost} dup ${delivery.duplicates}`,
  );
  return result;
}

/** Median 100 B throughput of a system at a worker count (NaN before it was measured). */
export function maxThroughput(report: Report, system: SystemName, workers: number): number {
  return median(
    report.throughput
      .filter((t) => t.system === system && t.workers === workers && t.size === 100)
      .map((t) => t.msgPerSec),
  );
}
