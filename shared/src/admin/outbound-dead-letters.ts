import { type DeadOutboundEntry, decodeDeadOutboundEntry } from '../outbound/entry.js';
import type { DataClient } from '../redis/data-connection.js';
import {
  type DeadLetterFilter,
  type DeadLetterSelection,
  isEmptyFilter,
  missingIds,
  reasonMatches,
  timeMatches,
} from './dead-letter-filter.js';

/** List elements per LRANGE page: bounded work per round trip. */
const PAGE = 500;

/** One undeliverable reply, decoded, with the element as stored (what LREM needs to remove it). */
export interface OutboundDeadLetter {
  dead: DeadOutboundEntry;
  stored: Buffer;
}

function decode(stored: Buffer): OutboundDeadLetter {
  try {
    return { dead: decodeDeadOutboundEntry(stored), stored };
  } catch (error) {
    // Shown and purgeable rather than hiding the rest of the list.
    const reason = `undecodable: ${(error as Error).message}`;
    return { dead: { deadAt: 0, reason, entry: undefined, raw: stored }, stored };
  }
}

/** The message id an undeliverable reply answers ('' when undecodable). */
export function outboundDeadId(letter: OutboundDeadLetter): string {
  return letter.dead.entry?.messageId ?? '';
}

/** Newest first (the list's head), every element `keep` accepts, page by page. */
async function scan(
  client: DataClient,
  key: string,
  keep: (letter: OutboundDeadLetter) => boolean,
): Promise<OutboundDeadLetter[]> {
  const out: OutboundDeadLetter[] = [];
  for (let start = 0; ; start += PAGE) {
    const page = await client.lrangeBuffer(key, start, start + PAGE - 1);
    for (const stored of page) {
      const letter = decode(stored);
      if (keep(letter)) out.push(letter);
    }
    if (page.length < PAGE) return out;
  }
}

const matches = (filter: DeadLetterFilter) => (letter: OutboundDeadLetter) =>
  reasonMatches(filter, letter.dead.reason) && timeMatches(filter, letter.dead.deadAt);

/** `{prefix}:out-dlq`, newest first: a page of those the filter matches, and how many match in all. */
export async function queryOutboundDead(
  client: DataClient,
  key: string,
  filter: DeadLetterFilter,
  offset: number,
  limit: number,
): Promise<{ total: number; letters: OutboundDeadLetter[] }> {
  if (isEmptyFilter(filter)) {
    const [total, page] = await Promise.all([
      client.llen(key),
      client.lrangeBuffer(key, offset, offset + limit - 1),
    ]);
    return { total, letters: page.map(decode) };
  }
  const all = await scan(client, key, matches(filter));
  return { total: all.length, letters: all.slice(offset, offset + limit) };
}

/** By message id (all replies to it) or by filter; ids with no undeliverable reply are `missing`. */
export async function selectOutboundDead(
  client: DataClient,
  key: string,
  selection: DeadLetterSelection,
): Promise<{ letters: OutboundDeadLetter[]; missing: string[] }> {
  if (selection.kind === 'filter')
    return { letters: await scan(client, key, matches(selection.filter)), missing: [] };
  const wanted = new Set(selection.ids);
  const letters = await scan(client, key, (letter) => wanted.has(outboundDeadId(letter)));
  return { letters, missing: missingIds(selection.ids, letters.map(outboundDeadId)) };
}

/** Removes exactly these elements (LREM by value); returns how many were still there. */
export async function purgeOutboundDead(
  client: DataClient,
  key: string,
  letters: readonly OutboundDeadLetter[],
): Promise<number> {
  let purged = 0;
  for (let i = 0; i < letters.length; i += PAGE) {
    const pipeline = client.pipeline();
    for (const letter of letters.slice(i, i + PAGE)) pipeline.lrem(key, 1, letter.stored);
    for (const [error, removed] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      purged += Number(removed);
    }
  }
  return purged;
}
