/** Result types, aggregation, and the three renderings: terminal tables, markdown, SVG chart. */
import type { LatencySummary } from './hist.js';
import type { Delivery } from './payload.js';
import { bytes, kilo, median, ms, round, type Spread, spread } from './util.js';

export interface ThroughputResult {
  system: string;
  workers: number;
  size: number;
  round: number;
  count: number;
  seconds: number;
  msgPerSec: number;
  publishPerSec: number;
  redisCpuUsPerMsg: number;
  /** CPU % per role over the run (100 = one core). */
  cpuPercent: Record<string, number>;
  /** CPU time per message per role (µs), from /proc: robust to other load on the machine. */
  cpuUsPerMsg: Record<string, number>;
  delivery: Delivery;
  commandStats: { command: string; calls: number; usec: number; usecPerMsg: number; callsPerMsg: number }[];
}

export interface LatencyResult {
  system: string;
  workers: number;
  label: string;
  offeredRate: number;
  seconds: number;
  count: number;
  achievedRate: number;
  publisherMaxLagMs: number;
  /** How late the publisher sent each message after its scheduled time (part of both latencies). */
  publisherSendLag: LatencySummary | null;
  handler: LatencySummary | null;
  ack: LatencySummary | null;
  ackMethod: string;
  delivery: Delivery;
}

export interface RssResult {
  workers: number;
  steadyRate: number;
  burstRate: number;
  burstSeconds: number;
  steady: Record<string, number>;
  burstPeak: Record<string, number>;
  afterDrain: Record<string, number>;
  redisPeakUsedMemory: number;
  burstDrainSeconds: number;
  burstPublishSeconds: number;
}

export interface FailoverResult {
  rate: number;
  leaseMs: number;
  seconds: number;
  kills: { electedMs: number; dispatchingMs: number }[];
  medianElectedMs: number;
  maxElectedMs: number;
  medianDispatchingMs: number;
  maxDispatchingMs: number;
  delivery: Delivery;
  failoverReplayed: number;
  redelivered: number;
}

export interface MemoryResult {
  system: string;
  size: number;
  count: number;
  parked: number;
  usedMemoryBefore: number;
  usedMemoryAfter: number;
  bytesPerMessage: number;
  overheadPerMessage: number;
}

export interface Report {
  options: Record<string, unknown>;
  environment: {
    date: string;
    node: string;
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    loadavgAtStart: number[];
    redis: string;
    bullmq: string;
    ioredis: string;
    gitHead: string;
    gitDirty: number;
  };
  throughput: ThroughputResult[];
  latency: LatencyResult[];
  latencyMax: number;
  latencyRates: { rate: number; label: string }[];
  latencySkipped: { system: string; rate: number; label: string; ownMax: number }[];
  rss: RssResult | null;
  failover: FailoverResult | null;
  memory: MemoryResult[];
  errors: string[];
  logDir: string;
  elapsedSeconds: number;
}

// ------------------------------------------------------------------------------------ aggregation

const SYSTEM_LABEL: Record<string, string> = {
  redispatch: 'redispatch',
  raw: 'raw ioredis loop',
  bullmq: 'BullMQ',
};

export interface ThroughputRow {
  system: string;
  workers: number;
  size: number;
  rate: Spread;
  redisCpuUsPerMsg: number;
  cpu: Record<string, number>;
  cpuPerMsg: Record<string, number>;
  lost: number;
  duplicates: number;
}

export function throughputRows(report: Report): ThroughputRow[] {
  const groups = new Map<string, ThroughputResult[]>();
  for (const t of report.throughput) {
    const key = `${t.system}|${t.workers}|${t.size}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const order = ['redispatch', 'raw', 'bullmq'];
  return [...groups.values()]
    .map((runs) => {
      const first = runs[0] as ThroughputResult;
      const roles = new Set(runs.flatMap((r) => Object.keys(r.cpuPercent)));
      const cpu: Record<string, number> = {};
      const cpuPerMsg: Record<string, number> = {};
      for (const role of roles) {
        cpu[role] = round(median(runs.map((r) => r.cpuPercent[role] ?? Number.NaN)));
        cpuPerMsg[role] = round(median(runs.map((r) => r.cpuUsPerMsg?.[role] ?? Number.NaN)), 1);
      }
      cpuPerMsg.total = round(
        median(
          runs.map((r) =>
            Object.entries(r.cpuUsPerMsg ?? {})
              .filter(([role]) => role !== 'publisher')
              .reduce((sum, [, v]) => sum + v, 0),
          ),
        ),
        1,
      );
      return {
        system: first.system,
        workers: first.workers,
        size: first.size,
        rate: spread(runs.map((r) => r.msgPerSec)),
        redisCpuUsPerMsg: round(median(runs.map((r) => r.redisCpuUsPerMsg)), 1),
        cpu,
        cpuPerMsg,
        lost: runs.reduce((s, r) => s + r.delivery.lost, 0),
        duplicates: runs.reduce((s, r) => s + r.delivery.duplicates, 0),
      };
    })
    .sort(
      (a, b) => a.size - b.size || a.workers - b.workers || order.indexOf(a.system) - order.indexOf(b.system),
    );
}

export interface RatioRow {
  workers: number;
  size: number;
  ours: number;
  raw: number;
  bullmq: number;
  /** Median over rounds of the per-round ratio (same round = same conditions). */
  vsRaw: Spread;
  vsBullmq: Spread;
}

export function ratioRows(report: Report): RatioRow[] {
  const rows: RatioRow[] = [];
  const keys = new Set(report.throughput.map((t) => `${t.workers}|${t.size}`));
  for (const key of keys) {
    const [workers, size] = key.split('|').map(Number) as [number, number];
    const pick = (system: string) =>
      report.throughput.filter((t) => t.system === system && t.workers === workers && t.size === size);
    const ours = pick('redispatch');
    const raw = pick('raw');
    const bull = pick('bullmq');
    if (ours.length === 0 || (raw.length === 0 && bull.length === 0)) continue;
    const perRound = (peer: ThroughputResult[]) =>
      ours
        .map((o) => {
          const p = peer.find((x) => x.round === o.round);
          return p ? o.msgPerSec / p.msgPerSec : Number.NaN;
        })
        .filter((r) => Number.isFinite(r));
    rows.push({
      workers,
      size,
      ours: median(ours.map((t) => t.msgPerSec)),
      raw: median(raw.map((t) => t.msgPerSec)),
      bullmq: median(bull.map((t) => t.msgPerSec)),
      vsRaw: spread(perRound(raw)),
      vsBullmq: spread(perRound(bull)),
    });
  }
  return rows.sort((a, b) => a.size - b.size || a.workers - b.workers);
}

// ------------------------------------------------------------------------------------ tables

type Table = { title: string; header: string[]; rows: string[][]; notes?: string[] };

const range = (s: Spread, f: (v: number) => string = kilo) =>
  s.runs.length > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
const ratio = (s: Spread) =>
  Number.isFinite(s.median)
    ? s.runs.length > 1
      ? `${round(s.median, 2)}x (${round(s.min, 2)}–${round(s.max, 2)})`
      : `${round(s.median, 2)}x`
    : 'n/a';
const size = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
const pct = (l: LatencySummary | null) =>
  l ? `${ms(l.p50)} / ${ms(l.p90)} / ${ms(l.p99)} / ${ms(l.p999)}` : 'n/a';
const cpuText = (cpu: Record<string, number>, roles = ['redis', 'leader', 'workers', 'publisher']) =>
  roles
    .map((role) => (cpu[role] === undefined || Number.isNaN(cpu[role]) ? '–' : String(cpu[role])))
    .join(' / ');

export function tables(report: Report): Table[] {
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
        size(r.size),
        range(r.rate),
        String(r.rate.runs.length),
        `${r.cpuPerMsg.total} = ${cpuText(r.cpuPerMsg, ['redis', 'leader', 'standby', 'workers'])}`,
        cpuText(r.cpu),
        `${r.lost} / ${r.duplicates}`,
      ]),
      notes: [
        'redispatch: 3 dispatchers (1 leader + 2 standbys), worker concurrency ' +
          `${report.options.concurrency}; BullMQ: same worker processes and concurrency; raw loop: moves ≤100 per call.`,
        'Messages per run: redispatch and raw loop as in options.count; BullMQ 1/2.5 of that (it drains ~5x slower).',
        'Measured from the first publish to the moment the ack counter reached the count (BullMQ: last completed job).',
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
        'redispatch / raw',
        'redispatch / BullMQ',
      ],
      rows: ratios.map((r) => [
        String(r.workers),
        size(r.size),
        kilo(r.ours),
        kilo(r.raw),
        kilo(r.bullmq),
        ratio(r.vsRaw),
        ratio(r.vsBullmq),
      ]),
      notes: ['Ratios are medians of per-round ratios (each round runs the three systems back to back).'],
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
          size(r.size),
          String(r.workers),
          kilo(r.rate.median),
          one ? `${round(r.rate.median / one.rate.median, 2)}x` : 'n/a',
          String(r.redisCpuUsPerMsg),
          String(r.cpu.redis ?? 'n/a'),
        ];
      }),
    });
  }
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
        pct(l.handler),
        pct(l.ack),
        `${ms(l.handler?.max)} / ${ms(l.ack?.max)}`,
        `${ms(l.publisherSendLag?.p50)} / ${ms(l.publisherSendLag?.p99)}`,
        `${l.delivery.lost} / ${l.delivery.duplicates}`,
      ]),
      notes: [
        'Latency is measured from the *scheduled* send time embedded in each payload (coordinated omission corrected);',
        'it includes the publisher send lag (its 1 ms tick and any stall), shown separately.',
        'publish → ack: redispatch and raw loop by count matching on the acked counter polled every ~1 ms (see README);',
        'BullMQ from its per-job completed event.',
        ...report.latencySkipped.map(
          (k) =>
            `${SYSTEM_LABEL[k.system] ?? k.system} at ${kilo(k.rate)} msg/s (${k.label}) skipped: above 90% of its own max (${kilo(k.ownMax)} msg/s).`,
        ),
      ],
    });
  }
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
      ],
    });
  }
  if (report.memory.length > 0) {
    out.push({
      title: '5a. Redis memory per parked message (no workers running)',
      header: ['system', 'payload', 'messages', 'bytes / message', 'overhead over payload'],
      rows: report.memory.map((m) => [
        SYSTEM_LABEL[m.system] ?? m.system,
        size(m.size),
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
  return out.sort((a, b) => a.title.localeCompare(b.title, 'en', { numeric: true }));
}

function renderText(table: Table): string {
  const widths = table.header.map((h, i) =>
    Math.max(h.length, ...table.rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [
    table.title,
    line(table.header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map(line),
    ...(table.notes ?? []).map((n) => `  ${n}`),
  ].join('\n');
}

function renderMd(table: Table): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    `**${table.title}**`,
    '',
    row(table.header),
    row(table.header.map(() => '---')),
    ...table.rows.map(row),
    ...(table.notes?.length ? ['', ...table.notes.map((n) => `<sub>${n}</sub>`)] : []),
  ].join('\n');
}

function machine(report: Report): string {
  const e = report.environment;
  return `${e.cpus} vCPU ${e.cpuModel}, ${e.memoryGiB} GiB, Node ${e.node}, ${e.redis.split(' ').slice(0, 3).join(' ')}, BullMQ ${e.bullmq}, ioredis ${e.ioredis}; commit ${e.gitHead}${e.gitDirty ? ` (+${e.gitDirty} uncommitted files in */src)` : ''}`;
}

export function renderTerminal(report: Report): string {
  return [
    '',
    `redispatch benchmark (${report.options.quick ? 'quick' : 'full'}), ${report.environment.date}, ${report.elapsedSeconds}s`,
    machine(report),
    '',
    ...tables(report).map((t) => `${renderText(t)}\n`),
  ].join('\n');
}

export function renderMarkdown(report: Report): string {
  return [
    `Measured by \`npm run bench${report.options.quick ? ' -- --quick' : ''}\` on ${report.environment.date.slice(0, 10)}: ${machine(report)}. ` +
      'Every process (Redis, dispatchers, workers, publisher) shares the machine.',
    '',
    ...tables(report).map((t) => `${renderMd(t)}\n`),
  ].join('\n');
}

// ------------------------------------------------------------------------------------ SVG

const COLORS: Record<string, string> = { redispatch: '#2b6cb0', raw: '#9c9c9c', bullmq: '#dd6b20' };
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Round tick values (1, 2, 5 × 10^k steps) from 0 up to `top`. */
function niceTicks(top: number): number[] {
  const raw = top / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = step; t <= top; t += step) ticks.push(t);
  return ticks;
}

function barPanel(
  x0: number,
  y0: number,
  width: number,
  height: number,
  title: string,
  groups: {
    label: string;
    bars: { key: string; value: number; min?: number; max?: number; text?: string }[];
  }[],
  options: { log?: boolean; unit: string },
): string {
  const parts: string[] = [];
  const values = groups
    .flatMap((g) => g.bars.flatMap((b) => [b.value, b.max ?? b.value]))
    .filter((v) => v > 0);
  const top = values.length ? Math.max(...values) * 1.1 : 1;
  const bottom = options.log ? Math.max(0.01, Math.min(...values) / 2) : 0;
  const scale = (v: number) => {
    if (options.log) {
      const lv = Math.log10(Math.max(v, bottom));
      return ((lv - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom))) * (height - 60);
    }
    return (v / top) * (height - 60);
  };
  const baseY = y0 + height - 30;
  parts.push(`<text x="${x0}" y="${y0 + 16}" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  parts.push(`<line x1="${x0 + 40}" y1="${baseY}" x2="${x0 + width}" y2="${baseY}" stroke="#333"/>`);
  const ticks = options.log
    ? Array.from({ length: 8 }, (_, i) => 10 ** (Math.floor(Math.log10(bottom)) + i)).filter(
        (t) => t >= bottom && t <= top,
      )
    : niceTicks(top);
  for (const t of ticks) {
    const y = baseY - scale(t);
    parts.push(`<line x1="${x0 + 40}" y1="${y}" x2="${x0 + width}" y2="${y}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${x0 + 36}" y="${y + 4}" font-size="10" text-anchor="end">${escapeXml(kilo(t))}</text>`,
    );
  }
  parts.push(`<text x="${x0}" y="${y0 + 32}" font-size="10">${escapeXml(options.unit)}</text>`);
  const groupWidth = (width - 50) / Math.max(1, groups.length);
  groups.forEach((g, gi) => {
    const gx = x0 + 45 + gi * groupWidth;
    const barWidth = Math.min(28, (groupWidth - 10) / Math.max(1, g.bars.length));
    g.bars.forEach((b, bi) => {
      const h = Math.max(0, scale(b.value));
      const bx = gx + bi * barWidth;
      parts.push(
        `<rect x="${bx}" y="${baseY - h}" width="${barWidth - 2}" height="${h}" fill="${COLORS[b.key] ?? b.key}"><title>${escapeXml(b.text ?? `${b.key}: ${kilo(b.value)}`)}</title></rect>`,
      );
      if (b.min !== undefined && b.max !== undefined && b.max > b.min) {
        const cx = bx + (barWidth - 2) / 2;
        parts.push(
          `<line x1="${cx}" y1="${baseY - scale(b.max)}" x2="${cx}" y2="${baseY - scale(b.min)}" stroke="#000" stroke-width="1"/>`,
        );
      }
    });
    parts.push(
      `<text x="${gx + (g.bars.length * barWidth) / 2}" y="${baseY + 14}" font-size="10" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  return parts.join('\n');
}

export function renderSvg(report: Report): string {
  const width = 960;
  const panels: string[] = [];
  let y = 40;
  const tp = throughputRows(report);
  if (tp.length > 0) {
    const keys = [...new Set(tp.map((r) => `${r.workers}|${r.size}`))];
    const groups = keys.map((key) => {
      const [w, s] = key.split('|').map(Number) as [number, number];
      return {
        label: `${w}w ${size(s)}`,
        bars: tp
          .filter((r) => r.workers === w && r.size === s)
          .map((r) => ({
            key: r.system,
            value: r.rate.median,
            min: r.rate.min,
            max: r.rate.max,
            text: `${SYSTEM_LABEL[r.system]}: ${kilo(r.rate.median)} msg/s (${kilo(r.rate.min)}–${kilo(r.rate.max)})`,
          })),
      };
    });
    panels.push(
      barPanel(20, y, width - 40, 300, 'Throughput publish → ack (msg/s, median with min–max)', groups, {
        unit: 'msg/s',
      }),
    );
    y += 320;
  }
  if (report.latency.length > 0) {
    const groups = report.latency.map((l) => ({
      label: `${l.system === 'redispatch' ? 'rd' : l.system} ${kilo(l.offeredRate)}/s`,
      bars: (['p50', 'p99', 'p999'] as const).map((p, i) => ({
        key: ['#90cdf4', '#3182ce', '#1a365d'][i] as string,
        value: (l.ack?.[p] ?? Number.NaN) / 1000,
        text: `${l.system} ${l.offeredRate}/s publish→ack ${p}: ${ms(l.ack?.[p])} ms`,
      })),
    }));
    panels.push(
      barPanel(
        20,
        y,
        width - 40,
        300,
        'Latency publish → ack at fixed rates: p50 / p99 / p99.9 (ms, log scale)',
        groups,
        {
          log: true,
          unit: 'ms',
        },
      ),
    );
    panels.push(
      ['p50', 'p99', 'p99.9']
        .map(
          (p, i) =>
            `<rect x="${560 + i * 80}" y="${y + 4}" width="12" height="12" fill="${['#90cdf4', '#3182ce', '#1a365d'][i]}"/><text x="${576 + i * 80}" y="${y + 15}" font-size="12">${p}</text>`,
        )
        .join('\n'),
    );
    y += 320;
  }
  const legend = Object.entries(COLORS)
    .map(
      ([k, c], i) =>
        `<rect x="${20 + i * 170}" y="${y}" width="12" height="12" fill="${c}"/><text x="${36 + i * 170}" y="${y + 11}" font-size="12">${escapeXml(SYSTEM_LABEL[k] ?? k)}</text>`,
    )
    .join('\n');
  const height = y + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="22" font-size="16" font-weight="bold">${escapeXml(`redispatch bench ${report.environment.date.slice(0, 16)}Z (${report.options.quick ? 'quick' : 'full'})`)}</text>
${panels.join('\n')}
${legend}
</svg>
`;
}
