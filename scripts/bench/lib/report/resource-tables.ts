/** Tables 5a (Redis memory per parked message) and 5b (process RSS). */
import { bytes, kilo, round } from '../util.js';
import { payloadSize, SYSTEM_LABEL } from './format.js';
import type { Report } from './results.js';
import type { Table } from './table.js';

export function resourceTables(report: Report): Table[] {
  const out: Table[] = [];
  if (report.memory.length > 0) {
    out.push({
      title: '5a. Redis memory per parked message (no workers running)',
      header: ['system', 'payload', 'messages', 'bytes / message', 'overhead over payload'],
      rows: report.memory.map((m) => [
        SYSTEM_LABEL[m.system] ?? m.system,
        payloadSize(m.size),
        kilo(m.count),
        String(round(m.bytesPerMessage)),
        `${round(m.overheadPerMessage)} B`,
      ]),
      notes: [
        'INFO memory used_memory delta / messages; redispatch messages wait in {rd}:backlog + {rd}:body.',
      ],
    });
  }
  const r = report.rss;
  if (r) {
    const roles = ['leader', 'standby', 'workers'];
    out.push({
      title: `5b. Process RSS (VmRSS, largest process of each role; ${r.workers} workers)`,
      header: [
        'role',
        `steady ${kilo(r.steadyRate)} msg/s`,
        `burst ${kilo(r.burstRate)} msg/s peak`,
        'after drain + 1 s',
      ],
      rows: roles.map((role) => [
        role,
        bytes(r.steady[role] ?? Number.NaN),
        bytes(r.burstPeak[role] ?? Number.NaN),
        bytes(r.afterDrain[role] ?? Number.NaN),
      ]),
      notes: [
        `burst: ${r.burstSeconds}s offered; publishing took ${r.burstPublishSeconds}s, everything acked after ${r.burstDrainSeconds}s; Redis used_memory peak ${bytes(r.redisPeakUsedMemory)}.`,
      ],
    });
  }
  const d = report.delay;
  if (d) {
    const l = d.latenessMs;
    out.push({
      title: `7. Delayed messages: lateness (handler time − due time), ${d.delayMs} ms delay at ${kilo(d.rate)} msg/s`,
      header: ['messages', 'p50', 'p99', 'p99.9', 'max', 'lost / dup'],
      rows: [
        [
          String(d.count),
          l ? `${l.p50} ms` : '-',
          l ? `${l.p99} ms` : '-',
          l ? `${l.p999} ms` : '-',
          l ? `${l.max} ms` : '-',
          `${d.delivery.lost} / ${d.delivery.duplicates}`,
        ],
      ],
      notes: ['Due time = scheduled publish time + delay; includes the publisher send lag and the claim.'],
    });
  }
  return out;
}
