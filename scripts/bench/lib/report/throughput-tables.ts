/** Tables 1 (throughput), 4 (redispatch vs peers) and 6 (scaling with worker processes). */
import { kilo, round } from '../util.js';
import { ratioRows, throughputRows } from './aggregate.js';
import { cpuText, payloadSize, rateRange, ratioText, SYSTEM_LABEL } from './format.js';
import type { Report } from './results.js';
import type { Table } from './table.js';

export function throughputTables(report: Report): Table[] {
  const out: Table[] = [];
  const tp = throughputRows(report);
  if (tp.length > 0) {
    out.push({
      title: '1. Throughput, publish → ack at full speed (lists mode, no-op handler)',
      header: [
        'system',
        'workers',
        'payload',
        'msg/s median (min–max)',
        'runs',
        'CPU µs/msg: total = redis + leader + standbys + workers',
        'CPU % redis / leader / workers / publisher',
        'lost / dup',
      ],
      rows: tp.map((r) => [
        SYSTEM_LABEL[r.system] ?? r.system,
        String(r.workers),
        payloadSize(r.size),
        rateRange(r.rate),
        String(r.rate.runs.length),
        `${r.cpuPerMsg.total} = ${cpuText(r.cpuPerMsg, ['redis', 'leader', 'standby', 'workers'])}`,
        cpuText(r.cpu),
        `${r.lost} / ${r.duplicates}`,
      ]),
      notes: [
        'redispatch: 3 dispatchers (1 leader + 2 standbys), worker concurrency ' +
          `${report.options.concurrency}; BullMQ and Bee-Queue: same worker processes and concurrency; raw loop: moves ≤100 per call.`,
        'Messages per run: redispatch, raw loop and Bee-Queue as in options.count; BullMQ 1/2.5 of that (it drains ~5x slower).',
        'Measured from the first publish to the moment the ack counter reached the count (BullMQ, Bee-Queue: last completed job).',
        'CPU µs/msg is process CPU time (/proc) per message, so it does not depend on what else runs on the machine; CPU % is of one core.',
      ],
    });
  }
  const ratios = ratioRows(report);
  if (ratios.length > 0) {
    out.push({
      title: '4. redispatch vs peers (same run, same machine, each on its own redis-server)',
      header: [
        'workers',
        'payload',
        'redispatch msg/s',
        'raw loop msg/s',
        'BullMQ msg/s',
        'Bee-Queue msg/s',
        'redispatch / raw',
        'redispatch / BullMQ',
        'redispatch / Bee-Queue',
      ],
      rows: ratios.map((r) => [
        String(r.workers),
        payloadSize(r.size),
        kilo(r.ours),
        kilo(r.raw),
        kilo(r.bullmq),
        kilo(r.beequeue),
        ratioText(r.vsRaw),
        ratioText(r.vsBullmq),
        ratioText(r.vsBeequeue),
      ]),
      notes: ['Ratios are medians of per-round ratios (each round runs the four systems back to back).'],
    });
  }
  const scaling = tp.filter((r) => r.system === 'redispatch');
  if (scaling.length > 0) {
    out.push({
      title: '6. Scaling (redispatch): throughput vs worker processes, Redis CPU per message',
      header: ['payload', 'workers', 'msg/s', 'vs 1 worker', 'Redis CPU µs/msg', 'Redis CPU %'],
      rows: scaling.map((r) => {
        const one = scaling.find((x) => x.size === r.size && x.workers === 1);
        return [
          payloadSize(r.size),
          String(r.workers),
          kilo(r.rate.median),
          one ? `${round(r.rate.median / one.rate.median, 2)}x` : 'n/a',
          String(r.redisCpuUsPerMsg),
          String(r.cpu.redis ?? 'n/a'),
        ];
      }),
    });
  }
  return out;
}
