import type { DeadLetter } from './dead-letters.js';

/** Which dead letters a `dlq` command acts on. Every field narrows; an empty filter is "all". */
export interface DeadLetterFilter {
  /** Substring of the reason, case-insensitive. */
  reason?: string;
  /** Dead-lettered at or before this time (epoch ms, Redis server clock): `--older-than`. */
  before?: number;
  /** Dead-lettered at or after this time (epoch ms): `--newer-than`. */
  after?: number;
}

/** Explicit ids (those not found are reported), or every dead letter a filter matches. */
export type DeadLetterSelection =
  | { kind: 'ids'; ids: readonly string[] }
  | { kind: 'filter'; filter: DeadLetterFilter };

/** One page of a listing, newest first, and how many matched in all. */
export interface DeadLetterPage {
  total: number;
  letters: DeadLetter[];
}

/** A dead letter selected for replay or purge: enough to check it and to address it. */
export interface DeadLetterRef {
  id: string;
  deadLetteredAt: number;
  /**
   * Body size in bytes (checked against REDISPATCH_MAX_PAYLOAD_BYTES before a replay); for an
   * oversize payload of which only a prefix was kept, the size it had.
   */
  size: number;
  /** Only a prefix of the body was kept (an oversize payload): never replayable. */
  truncated?: boolean;
  /** Where it lives: the id in lists mode, `<partition>/<entry id>` in streams mode. */
  locator: string;
}

export interface SelectedDeadLetters {
  refs: DeadLetterRef[];
  /** Requested ids that are not dead letters. */
  missing: string[];
}

/** The dead-letter queue of one deployment, whichever the mode. */
export interface DeadLetterStore {
  /** Newest first: the `limit` dead letters after skipping `offset` matches, and the match count. */
  query(filter: DeadLetterFilter, offset: number, limit: number): Promise<DeadLetterPage>;
  /** Every dead letter with this id (one, or none; streams mode may hold a repeat). */
  show(id: string): Promise<DeadLetter[]>;
  select(selection: DeadLetterSelection): Promise<SelectedDeadLetters>;
  /** Sends them back to routing with a fresh attempt count; returns how many were still there. */
  replay(refs: readonly DeadLetterRef[]): Promise<number>;
  /** Deletes them; returns how many were still there. */
  purge(refs: readonly DeadLetterRef[]): Promise<number>;
}

export function isEmptyFilter(filter: DeadLetterFilter): boolean {
  return filter.reason === undefined && filter.before === undefined && filter.after === undefined;
}

export function reasonMatches(filter: DeadLetterFilter, reason: string): boolean {
  return filter.reason === undefined || reason.toLowerCase().includes(filter.reason.toLowerCase());
}

export function timeMatches(filter: DeadLetterFilter, at: number): boolean {
  return (
    (filter.before === undefined || at <= filter.before) && (filter.after === undefined || at >= filter.after)
  );
}

/** Which of `requested` are not among `found` ids, in the order asked. */
export function missingIds(requested: readonly string[], found: Iterable<string>): string[] {
  const present = new Set(found);
  return [...new Set(requested)].filter((id) => !present.has(id));
}
