import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Stats } from '@redispatch/shared';

export interface CheckResult {
  expected: number;
  handled: number;
  lost: number;
  duplicates: number;
  /** Handled count per recording process (file). */
  perProcess: Map<string, number>;
}

/** How often each `runId:seq` was recorded, overall and per recording process (file). */
function countSeen(dir: string, runId: string) {
  const seen = new Map<number, number>();
  const perProcess = new Map<string, number>();
  for (const file of readdirSync(dir)) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    let mine = 0;
    for (const line of lines) {
      if (!line.startsWith(`${runId}:`)) continue;
      const seq = Number(line.slice(runId.length + 1));
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
      mine += 1;
    }
    perProcess.set(file, mine);
  }
  return { seen, perProcess };
}

/** Counts, for every published `runId:seq`, how often a handler saw it (from checker-handler.mjs files). */
export function checkRun(dir: string, runId: string, count: number): CheckResult {
  const { seen, perProcess } = countSeen(dir, runId);
  return summarize(seen, count, perProcess);
}

/** The same count for in-process handlers that record into a map. */
export function summarize(
  seen: Map<number, number>,
  count: number,
  perProcess = new Map<string, number>(),
): CheckResult {
  let lost = 0;
  let duplicates = 0;
  let handled = 0;
  for (let seq = 0; seq < count; seq++) {
    const times = seen.get(seq) ?? 0;
    if (times === 0) lost += 1;
    else duplicates += times - 1;
    handled += times;
  }
  return { expected: count, handled, lost, duplicates, perProcess };
}

/** Parses the `<runId>:<seq>:` head that `redispatch publish` and `loadPayload` write. */
export function seqOf(body: Buffer, runId: string): number | undefined {
  const text = body.toString('latin1', 0, Math.min(body.length, 64));
  if (!text.startsWith(`${runId}:`)) return undefined;
  return Number(text.slice(runId.length + 1, text.indexOf(':', runId.length + 1)));
}

/** The never-handled sequence numbers of a run. */
export function missingSeqs(dir: string, runId: string, count: number): number[] {
  const { seen } = countSeen(dir, runId);
  const missing: number[] = [];
  for (let seq = 0; seq < count; seq++) if (!seen.has(seq)) missing.push(seq);
  return missing;
}

/** The never-handled sequence numbers of a run as compact ranges ("120-431, 9000"), for failure messages. */
export function missingRanges(dir: string, runId: string, count: number, limit = 20): string {
  const { seen } = countSeen(dir, runId);
  const ranges: string[] = [];
  let start = -1;
  for (let seq = 0; seq <= count; seq++) {
    const missing = seq < count && !seen.has(seq);
    if (missing && start < 0) start = seq;
    if (!missing && start >= 0) {
      ranges.push(start === seq - 1 ? `${start}` : `${start}-${seq - 1}`);
      start = -1;
    }
  }
  return ranges.length > limit
    ? `${ranges.slice(0, limit).join(', ')} … (${ranges.length} ranges)`
    : ranges.join(', ');
}

/**
 * Where a killed worker's duplicates sit in what it handled. A worker SIGKILLed mid-run can only
 * duplicate what it handled but had not acknowledged yet: the newest of its records (acks leave in
 * the order handlers finish). `fromEnd` is how far from the end of its record the oldest duplicated
 * one is; `killed` how many of the run's duplicates involve it; `others` the rest (another cause,
 * such as a failover replay).
 */
export function killedWorkerDuplicates(
  dir: string,
  runId: string,
  pid: number | undefined,
): { killed: number; others: number; fromEnd: number } {
  const { seen } = countSeen(dir, runId);
  const mine = readFileSync(join(dir, `${pid}.log`), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(`${runId}:`))
    .map((line) => Number(line.slice(runId.length + 1)));
  const mineSet = new Set(mine);
  let killed = 0;
  let others = 0;
  for (const [seq, times] of seen) {
    if (times < 2) continue;
    if (mineSet.has(seq)) killed += times - 1;
    else others += times - 1;
  }
  const oldest = mine.findIndex((seq) => (seen.get(seq) ?? 0) > 1);
  return { killed, others, fromEnd: oldest < 0 ? 0 : mine.length - oldest };
}

/**
 * Polls until every message of the run was handled, the timeout passes, or nothing new was handled
 * for `stallMs` (something is stuck: no point waiting out the timeout). Returns the last count.
 */
export async function waitForHandled(
  dir: string,
  runId: string,
  count: number,
  timeoutMs: number,
  stallMs: number,
): Promise<CheckResult> {
  const deadline = performance.now() + timeoutMs;
  let result = checkRun(dir, runId, count);
  let progressAt = performance.now();
  while (result.lost > 0 && performance.now() < deadline && performance.now() - progressAt < stallMs) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = checkRun(dir, runId, count);
    if (next.handled !== result.handled) progressAt = performance.now();
    result = next;
  }
  return result;
}

export interface Inventory {
  outstanding: number;
  accepted: number;
  acked: number;
  deadLetters: number;
  /** > 0: an accepted id vanished from every structure (lost after acceptance). */
  missing: number;
}

/**
 * Where every accepted message is at the moment: once idle, every accepted id must be acked or
 * dead-lettered; `missing` > 0 means an accepted id vanished from every structure.
 */
export function inventoryOf(stats: Stats): Inventory {
  const queued = stats.workers.reduce((sum, w) => sum + w.queued, 0);
  const outstanding = stats.inflight + stats.backlog + stats.delayed + queued;
  return {
    outstanding,
    accepted: stats.totals.accepted,
    acked: stats.totals.acked,
    deadLetters: stats.deadLetters,
    missing: stats.totals.accepted - stats.totals.acked - stats.deadLetters - outstanding,
  };
}
