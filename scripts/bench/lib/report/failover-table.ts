/** Table 3: leader failover under load. */
import { kilo, round } from '../util.js';
import type { Report } from './results.js';
import type { Table } from './table.js';

export function failoverTables(report: Report): Table[] {
  const out: Table[] = [];
  const f = report.failover;
  if (f) {
    out.push({
      title: `3. Failover: leader SIGKILLed ${f.kills.length}x at ${kilo(f.rate)} msg/s (lease ${f.leaseMs} ms)`,
      header: [
        'new epoch after kill, median (max) ms',
        'dispatching again, median (max) ms',
        'published',
        'handled',
        'lost',
        'duplicates',
        'replayed by new leaders',
      ],
      rows: [
        [
          `${round(f.medianElectedMs)} (${round(f.maxElectedMs)})`,
          `${round(f.medianDispatchingMs)} (${round(f.maxDispatchingMs)})`,
          String(f.delivery.published),
          String(f.delivery.handled),
          String(f.delivery.lost),
          String(f.delivery.duplicates),
          String(f.failoverReplayed),
        ],
      ],
      notes: [
        `per kill (epoch / dispatching ms): ${f.kills.map((k) => `${k.electedMs}/${k.dispatchingMs}`).join(', ')}`,
        f.sigterm
          ? `SIGTERM handover (then): new epoch after ${f.sigterm.electedMs} ms, dispatching after ${f.sigterm.dispatchingMs} ms`
          : 'SIGTERM handover: not measured',
      ],
    });
  }
  return out;
}
