/** Scenario 2: latency at fixed offered rates (publish -> handler and publish -> ack). */
import { mergeHistograms, newHistogram, summarize } from '../lib/hist.js';
import { mergeDelivery } from '../lib/payload.js';
import type { LatencyResult, Report } from '../lib/report/results.js';
import { CounterSampler } from '../lib/sampler.js';
import type { Redispatch } from '../lib/systems/redispatch.js';
import type { System } from '../lib/systems/system.js';
import { median, round, runId, sleep } from '../lib/util.js';
import { log } from './context.js';
import { options } from './options.js';
import { maxThroughput, throughputRun } from './throughput.js';

export async function latencyRun(
  system: System,
  rate: number,
  seconds: number,
  label: string,
): Promise<LatencyResult> {
  const count = Math.max(1, Math.round(rate * seconds));
  const id = runId('l');
  const base = await system.acked();
  const sampler = system.ackCounter
    ? new CounterSampler(system.redis.admin, system.ackCounter.key, system.ackCounter.field, 1).start()
    : undefined;
  const t0 = await system.publishRate(id, count, rate, 100);
  const done = await system.loadDone(seconds * 1000 + 60_000);
  const tEnd = await system.waitAcked(base + count, 60_000);
  await sleep(5);
  await sampler?.stop();
  const dumps = await system.dump(id);
  const handler = mergeHistograms(dumps.map((d) => d.handlerHist));
  let ack = newHistogram();
  let ackMethod = 'completed event per job (exact)';
  if (sampler) {
    const interval = 1e6 / rate;
    sampler.recordAckLatencies(ack, base, count, (k) => Math.round(t0 + k * interval));
    ackMethod = `count matching on the acked counter, polled every ~${round(median(sampler.times.slice(1).map((t, i) => t - (sampler.times[i] as number))) / 1000, 2)} ms`;
  } else ack = mergeHistograms(dumps.map((d) => d.doneHist));
  const delivery = mergeDelivery(
    dumps.map((d) => d.counts),
    done.sent ?? count,
  );
  const result: LatencyResult = {
    system: system.name,
    workers: system.workerCount,
    label,
    offeredRate: rate,
    seconds,
    count,
    achievedRate: round(count / ((tEnd - t0) / 1e6)),
    publisherMaxLagMs: round((done.maxLagUs ?? Number.NaN) / 1000, 2),
    publisherSendLag: summarize(mergeHistograms([done.sendLagHist as string | undefined])),
    handler: summarize(handler),
    ack: summarize(ack),
    ackMethod,
    delivery,
  };
  const h = result.handler;
  const a = result.ack;
  log(
    `  ${system.name} ${label} ${rate} msg/s: achieved ${result.achievedRate}; handler p50/p99/p99.9 ${h ? `${h.p50}/${h.p99}/${h.p999}` : '-'} µs; ack ${a ? `${a.p50}/${a.p99}/${a.p999}` : '-'} µs; lost ${delivery.lost} dup ${delivery.duplicates}`,
  );
  return result;
}

/** The offered rates: a fixed 2,000 msg/s and 25 / 50 / 75 % of redispatch's measured max. */
export async function latencyRates(
  report: Report,
  system: Redispatch,
): Promise<{ rate: number; label: string }[]> {
  let max = maxThroughput(report, 'redispatch', options.latencyWorkers);
  if (!Number.isFinite(max)) {
    log('  no throughput figure for the latency configuration yet: measuring one');
    const probe = await throughputRun(system, 100, 0);
    report.throughput.push(probe);
    max = probe.msgPerSec;
  }
  report.latencyMax = max;
  return [
    { rate: 2_000, label: 'fixed' },
    { rate: Math.round(max * 0.25), label: '25% of max' },
    { rate: Math.round(max * 0.5), label: '50% of max' },
    { rate: Math.round(max * 0.75), label: '75% of max' },
  ];
}
