/** The report as an SVG chart: throughput bars and latency percentiles (bench-results/<stamp>.svg). */
import { kilo, ms } from '../util.js';
import { throughputRows } from './aggregate.js';
import { payloadSize, SYSTEM_LABEL } from './format.js';
import type { Report } from './results.js';

const COLORS: Record<string, string> = {
  redispatch: '#2b6cb0',
  raw: '#9c9c9c',
  bullmq: '#dd6b20',
  beequeue: '#38a169',
};
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
        label: `${w}w ${payloadSize(s)}`,
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
