/** Table 2: latency at fixed offered rates. */
import { kilo, ms } from '../util.js';
import { percentiles, SYSTEM_LABEL } from './format.js';
import type { Report } from './results.js';
import type { Table } from './table.js';

export function latencyTables(report: Report): Table[] {
  const out: Table[] = [];
  if (report.latency.length > 0) {
    out.push({
      title: `2. Latency at fixed offered rates (100 B; max = ${kilo(report.latencyMax)} msg/s, redispatch with ${report.latency[0]?.workers} workers)`,
      header: [
        'system',
        'offered msg/s',
        'achieved',
        'publish → handler p50 / p90 / p99 / p99.9 ms',
        'publish → ack p50 / p90 / p99 / p99.9 ms',
        'max ms (handler / ack)',
        'publisher send lag p50 / p99 ms',
        'lost / dup',
      ],
      rows: report.latency.map((l) => [
        SYSTEM_LABEL[l.system] ?? l.system,
        `${kilo(l.offeredRate)} (${l.label})`,
        kilo(l.achievedRate),
        percentiles(l.handler),
        percentiles(l.ack),
        `${ms(l.handler?.max)} / ${ms(l.ack?.max)}`,
        `${ms(l.publisherSendLag?.p50)} / ${ms(l.publisherSendLag?.p99)}`,
        `${l.delivery.lost} / ${l.delivery.duplicates}`,
      ]),
      notes: [
        'Latency is measured from the *scheduled* send time embedded in each payload (coordinated omission corrected);',
        'it includes the publisher send lag (its 1 ms tick and any stall), shown separately.',
        'publish → ack: redispatch and raw loop by count matching on the acked counter polled every ~1 ms (see README);',
        'BullMQ and Bee-Queue from their per-job completed / succeeded event.',
        ...report.latencySkipped.map(
          (k) =>
            `${SYSTEM_LABEL[k.system] ?? k.system} at ${kilo(k.rate)} msg/s (${k.label}) skipped: above 90% of its own max (${kilo(k.ownMax)} msg/s).`,
        ),
      ],
    });
  }
  return out;
}
