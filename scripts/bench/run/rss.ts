/** Scenario 5b: process RSS per role at a steady rate, at the peak of a burst, and after it drained. */
import { rssBytes } from '../lib/procs.js';
import { usedMemory } from '../lib/redis.js';
import type { Report, RssResult } from '../lib/report/results.js';
import type { Redispatch } from '../lib/systems/redispatch.js';
import { nowUs, round, runId, sleep } from '../lib/util.js';
import { log } from './context.js';
import { options } from './options.js';

export async function rssPhase(system: Redispatch, report: Report): Promise<void> {
  const sample = async () => {
    const roles = await system.roles();
    const out: Record<string, number> = {};
    for (const { role, pid } of roles) out[role] = Math.max(out[role] ?? 0, rssBytes(pid));
    return out;
  };
  const maxInto = (into: Record<string, number>, s: Record<string, number>) => {
    for (const [role, v] of Object.entries(s)) into[role] = Math.max(into[role] ?? 0, v);
  };
  const phase = async (rate: number, seconds: number) => {
    const count = Math.round(rate * seconds);
    const id = runId('r');
    const base = await system.acked();
    const peak: Record<string, number> = {};
    let peakRedis = 0;
    let last: Record<string, number> = {};
    const t0 = await system.publishRate(id, count, rate, 100);
    let drained = Number.NaN;
    let publishedAt = Number.NaN;
    const donePromise = system.loadDone(seconds * 1000 + 60_000).then((m) => {
      publishedAt = nowUs();
      return m;
    });
    const deadline = Date.now() + seconds * 1000 + 60_000;
    while (Date.now() < deadline) {
      last = await sample();
      maxInto(peak, last);
      peakRedis = Math.max(peakRedis, await usedMemory(system.redis.admin));
      if ((await system.acked()) >= base + count) {
        drained = nowUs();
        break;
      }
      await sleep(100);
    }
    await donePromise;
    await system.dump(id);
    return { t0, count, peak, last, peakRedis, drained, publishedAt };
  };
  log(`rss: steady ${options.steadyRate} msg/s for ${options.steadySeconds}s`);
  const steady = await phase(options.steadyRate, options.steadySeconds);
  const burstRate = options.steadyRate * 10;
  log(`rss: burst ${burstRate} msg/s for ${options.burstSeconds}s`);
  const burst = await phase(burstRate, options.burstSeconds);
  await sleep(1_000);
  const after = await sample();
  const result: RssResult = {
    workers: system.workerCount,
    steadyRate: options.steadyRate,
    burstRate,
    burstSeconds: options.burstSeconds,
    steady: steady.last,
    burstPeak: burst.peak,
    afterDrain: after,
    redisPeakUsedMemory: burst.peakRedis,
    burstDrainSeconds: round((burst.drained - burst.t0) / 1e6, 2),
    burstPublishSeconds: round((burst.publishedAt - burst.t0) / 1e6, 2),
  };
  report.rss = result;
  log(
    `  rss steady ${JSON.stringify(result.steady)} burst ${JSON.stringify(result.burstPeak)} after ${JSON.stringify(result.afterDrain)}`,
  );
}
