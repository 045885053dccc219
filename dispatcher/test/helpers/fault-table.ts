import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULTS_FULL } from './fault-cluster.js';

/** One line of the fault-injection report (issue 8). */
export interface FaultRow {
  scenario: string;
  /** Messages the scenario promises not to lose that were never handled. */
  lost: number | string;
  /** Extra handler runs (handled more than once), with the scenario's bound in `notes`. */
  duplicates: number | string;
  /** How long until the system worked again (takeover, flow resumed, backlog drained…). */
  recover: string;
  notes: string;
}

/** The files of dispatcher/test/faults; once all of them reported, the last one prints the whole table. */
const FAULT_FILES = ['leader', 'redis', 'worker', 'streams', 'streams-redis'] as const;

const rows: FaultRow[] = [];
const FORM = FAULTS_FULL ? ', full' : ', bounded form: npm run test:faults for the full one';

// Vitest runs each file in a fork of one main process, so the parent pid names the run.
const shared = join(tmpdir(), `redispatch-faults-${process.ppid}.jsonl`);

/** Records a row for this file's table (and the cross-file one) and logs it at once. */
/** A duration for the table's recovery column: "1.42 s". */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function recordFault(row: FaultRow): void {
  rows.push(row);
  console.info(
    `fault | ${row.scenario} | lost ${row.lost} | duplicates ${row.duplicates} | recover ${row.recover} | ${row.notes}`,
  );
}

function render(title: string, table: FaultRow[]): string {
  const header = ['scenario', 'lost', 'duplicates', 'time to recover', 'notes'];
  const cells = table.map((r) => [r.scenario, String(r.lost), String(r.duplicates), r.recover, r.notes]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    title,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.map(line),
  ].join('\n');
}

/** Prints this file's rows (call from afterAll); the last fault file to finish also prints all of them. */
export function printFaultTable(file: (typeof FAULT_FILES)[number]): void {
  console.info(render(`\nfault table (${file}${FORM})`, rows));
  try {
    // Partial runs (one file alone) leave their report behind; sweep those older than an hour.
    for (const name of readdirSync(tmpdir())) {
      const path = join(tmpdir(), name);
      if (/^redispatch-faults-\d+\.jsonl$/.test(name) && Date.now() - statSync(path).mtimeMs > 3_600_000)
        rmSync(path, { force: true });
    }
    appendFileSync(shared, `${JSON.stringify({ file, rows })}\n`);
    const reports = readFileSync(shared, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { file: string; rows: FaultRow[] });
    const done = new Set(reports.map((r) => r.file));
    if (FAULT_FILES.every((f) => done.has(f))) {
      const all = FAULT_FILES.flatMap((f) => reports.filter((r) => r.file === f).flatMap((r) => r.rows));
      all.sort((a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }));
      console.info(render(`\nfault table (all fault files${FORM})`, all));
      if (existsSync(shared)) rmSync(shared, { force: true });
    }
  } catch (error) {
    console.info(`fault table: could not merge across files (${(error as Error).message})`);
  }
}
