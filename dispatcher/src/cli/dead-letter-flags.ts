import type { DeadLetterFilter, DeadLetterSelection } from '@redispatch/shared';
import type { Command } from 'commander';

/** The filter flags `dlq` and `outbound-dlq` share (list, replay, purge). */
export interface FilterFlags {
  reason?: string;
  olderThan?: string;
  newerThan?: string;
}

export interface PageFlags {
  offset: string;
  limit: string;
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

export function addFilterOptions(command: Command): Command {
  return command
    .option('--reason <text>', 'only those whose reason contains this text (case-insensitive)')
    .option(
      '--older-than <age>',
      'only those dead-lettered before: a duration (90s, 10m, 2h, 1d) or an ISO time',
    )
    .option('--newer-than <age>', 'only those dead-lettered since: a duration (10m, 2h, 1d) or an ISO time');
}

/** `10m` → now - 10 minutes; `2026-12-06T10:00:00Z` → that time. Epoch ms on the server's clock. */
export function parseAge(flag: string, value: string, nowMs: number): number {
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value.trim());
  if (duration) return nowMs - Number(duration[1]) * (UNIT_MS[duration[2] ?? 's'] ?? 1_000);
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at))
    throw new Error(`${flag} expects a duration like 10m, 2h, 1d or an ISO timestamp (got "${value}")`);
  return at;
}

export function hasFilter(flags: FilterFlags): boolean {
  return flags.reason !== undefined || flags.olderThan !== undefined || flags.newerThan !== undefined;
}

export function filterFrom(flags: FilterFlags, nowMs: number): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  if (flags.reason !== undefined) filter.reason = flags.reason;
  if (flags.olderThan !== undefined) filter.before = parseAge('--older-than', flags.olderThan, nowMs);
  if (flags.newerThan !== undefined) filter.after = parseAge('--newer-than', flags.newerThan, nowMs);
  return filter;
}

export function wholeNumber(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${flag} expects a whole number >= ${min} (got "${value}")`);
  return n;
}

export function pageFrom(flags: PageFlags): { offset: number; limit: number } {
  return { offset: wholeNumber('--offset', flags.offset, 0), limit: wholeNumber('--limit', flags.limit, 1) };
}

/**
 * What `replay`/`purge` act on: ids, or filters, or `--all`. `bareMeansAll` keeps `dlq purge` (no
 * arguments) meaning every dead letter, as it always did.
 */
export function selectionFrom(
  command: string,
  ids: string[],
  flags: FilterFlags & { all?: boolean },
  nowMs: number,
  bareMeansAll = false,
): DeadLetterSelection {
  const filtered = hasFilter(flags);
  if (ids.length > 0 && (flags.all || filtered))
    throw new Error(`${command} takes either ids or --all/filters, not both`);
  if (ids.length > 0) return { kind: 'ids', ids };
  if (flags.all && filtered) throw new Error(`${command} takes either --all or filters, not both`);
  if (!flags.all && !filtered && !bareMeansAll)
    throw new Error(`${command} needs ids, --all, or a filter (--reason, --older-than, --newer-than)`);
  return { kind: 'filter', filter: filterFrom(flags, nowMs) };
}
