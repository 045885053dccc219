/**
 * Scenario 7: delayed messages on time. redispatch at a steady rate, every message delayed by the
 * same `delayMs` in its envelope; the handler records publish (scheduled) → handler, and lateness is
 * that minus the delay. The leader promotes due entries from the delayed set (issue 17: a timer on
 * the set's earliest due time, not only the reap tick).
 */
import { mergeHistograms, summarize } from '../lib/hist.js';
import { mergeDelivery } from '../lib/payload.js';
import type { Report } from '../lib/report/results.js';
import type { Redispatch } from '../lib/systems/redispatch.js';
import { CHANNEL } from '../lib/systems/system.js';
import { round, runId, sleep } from '../lib/util.js';
import { log } from './context.js';
import { options } from './options.js';

const DELAY_MS = 300;

export async function delayPhase(system: Redispatch, report: Report): Promise<void> {
  const rate = 500;
  const count = rate * (options.quick ? 2 : 10);
  const id = runId('d');
  log(`delay: ${count} messages at ${rate} msg/s, each delayed ${DELAY_MS} ms`);
  const base = await system.acked();
  system.load.send({
    type: 'publish-delayed',
    url: system.redis.url,
    channel: CHANNEL,
    runId: id,
    count,
    rate,
    size: 100,
    delayMs: DELAY_MS,
  });
  await system.load.next('started', 30_000);
  const done = await system.loadDone(count * 10 + 60_000);
  await system.waitAcked(base + count, 60_000);
  await sleep(5);
  const dumps = await system.dump(id);
  const handler = summarize(mergeHistograms(dumps.map((d) => d.handlerHist)));
  const late = (us: number | undefined) => round(((us ?? Number.NaN) - DELAY_MS * 1000) / 1000, 2);
  report.delay = {
    delayMs: DELAY_MS,
    rate,
    count,
    latenessMs: handler
      ? { p50: late(handler.p50), p99: late(handler.p99), p999: late(handler.p999), max: late(handler.max) }
      : null,
    delivery: mergeDelivery(
      dumps.map((d) => d.counts),
      (done.sent as number | undefined) ?? count,
    ),
  };
  const l = report.delay.latenessMs;
  log(`  lateness p50/p99/p99.9/max ${l ? `${l.p50}/${l.p99}/${l.p999}/${l.max}` : '-'} ms`);
}
