/** One round of the interleaved scenarios: every system in turn, throughput, latency, RSS and failover. */
import type { Report } from '../lib/report/results.js';
import type { Redispatch } from '../lib/systems/redispatch.js';
import { startSystem } from '../lib/systems/start-system.js';
import type { SystemName } from '../lib/systems/system.js';
import { errorText } from '../lib/util.js';
import { log, startOptions } from './context.js';
import { delayPhase } from './delay.js';
import { failoverPhase } from './failover.js';
import { latencyRates, latencyRun } from './latency.js';
import { only, options, quick, systems } from './options.js';
import { rssPhase } from './rss.js';
import { maxThroughput, throughputRun, warmup } from './throughput.js';

/**
 * One round: each system in turn (redispatch, raw loop, BullMQ, Bee-Queue), each on a fresh redis-server.
 * Within a system the worker processes are scaled up between runs (1 -> 2 -> 4, warm-up after
 * each step), so dispatchers and Redis start once per system and round. In the last round the
 * system then goes back to the latency configuration for the latency runs (and, for redispatch,
 * RSS and failover).
 */
export async function runRound(r: number, report: Report): Promise<void> {
  const last = r === options.reps;
  const doThroughput = only.has('throughput');
  const doLatency = last && only.has('latency');
  const names = (['redispatch', 'raw', 'bullmq', 'beequeue'] as SystemName[]).filter((n) => systems.has(n));
  for (const name of names) {
    const ours = name === 'redispatch';
    const counts = doThroughput ? (ours ? options.workerCounts : options.peerWorkerCounts) : [];
    const needsLatencyCluster =
      doLatency || (ours && last && (only.has('rss') || only.has('delay') || only.has('failover')));
    if (counts.length === 0 && !needsLatencyCluster) continue;
    const first = counts[0] ?? options.latencyWorkers;
    log(`round ${r}/${options.reps}: ${name}`);
    const system = await startSystem(name, startOptions(`r${r}-${name}`, first));
    try {
      for (const workers of counts) {
        if (system.workerCount !== workers) await system.setWorkers(workers);
        await warmup(system);
        for (const size of options.sizes) report.throughput.push(await throughputRun(system, size, r));
      }
      if (needsLatencyCluster) {
        if (system.workerCount !== options.latencyWorkers) await system.setWorkers(options.latencyWorkers);
        if (counts.length === 0) await warmup(system);
        if (ours) report.latencyRates = await latencyRates(report, system as Redispatch);
        if (doLatency) {
          // Quick runs come straight from the (warm) throughput runs; full runs warm up at 2,000 msg/s.
          if (!quick || counts.length === 0) await latencyRun(system, 2_000, 1, 'warm-up');
          const ownMax = maxThroughput(report, name, options.latencyWorkers);
          for (const { rate, label } of report.latencyRates) {
            if (!ours && !options.peerLatencyAllRates && label !== 'fixed') continue;
            if (!ours && rate > 0.9 * ownMax) {
              // Bounded runs: an offered rate above what the system drains only measures its queue growing.
              log(`  ${name} ${label} ${rate} msg/s skipped: above 90% of its own max (${ownMax} msg/s)`);
              report.latencySkipped.push({ system: name, rate, label, ownMax });
              continue;
            }
            report.latency.push(await latencyRun(system, rate, options.latencySeconds, label));
          }
        }
        if (ours && only.has('rss')) await rssPhase(system as Redispatch, report);
        if (ours && only.has('delay')) await delayPhase(system as Redispatch, report);
        if (ours && only.has('failover')) await failoverPhase(system as Redispatch, report);
      }
    } catch (error) {
      log(`  FAILED: ${errorText(error)}`);
      report.errors.push(`round ${r} ${name}: ${errorText(error)}`);
    } finally {
      await system.stop();
    }
  }
}
