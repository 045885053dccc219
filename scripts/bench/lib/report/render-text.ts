/** The report as terminal tables and as markdown (for docs/performance.md), tables in section order. */
import { failoverTables } from './failover-table.js';
import { latencyTables } from './latency-table.js';
import { resourceTables } from './resource-tables.js';
import type { Report } from './results.js';
import { renderMd, renderText, type Table } from './table.js';
import { throughputTables } from './throughput-tables.js';

/** Every table the report has data for, sorted by section number. */
function tables(report: Report): Table[] {
  const out: Table[] = [
    ...throughputTables(report),
    ...latencyTables(report),
    ...failoverTables(report),
    ...resourceTables(report),
  ];
  return out.sort((a, b) => a.title.localeCompare(b.title, 'en', { numeric: true }));
}

function machine(report: Report): string {
  const e = report.environment;
  return `${e.cpus} vCPU ${e.cpuModel}, ${e.memoryGiB} GiB, Node ${e.node}, ${e.redis.split(' ').slice(0, 3).join(' ')}, BullMQ ${e.bullmq}, Bee-Queue ${e.beeQueue}, ioredis ${e.ioredis}; commit ${e.gitHead}${e.gitDirty ? ` (+${e.gitDirty} uncommitted files in */src)` : ''}`;
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
