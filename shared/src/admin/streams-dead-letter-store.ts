import { streamDlqReplayEntries } from '../redis/calls/dead-letter-calls.js';
import type { DataClient } from '../redis/data-connection.js';
import type { PartitionKeys } from '../streams/partition-keys.js';
import {
  type DeadLetterFilter,
  type DeadLetterRef,
  type DeadLetterSelection,
  type DeadLetterStore,
  missingIds,
  reasonMatches,
} from './dead-letter-filter.js';
import type { DeadLetter } from './dead-letters.js';
import { truncatedSize } from './truncated-letters.js';

/** Entries per XRANGE page and per script call: bounded work per round trip. */
const PAGE = 500;

type Entry = [Buffer, Buffer[]];

/** One dead-letter stream entry, located. */
interface Located {
  partition: PartitionKeys;
  entryId: string;
  letter: DeadLetter;
}

function parse(partition: PartitionKeys, [rawId, flat]: Entry): Located {
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1] as Buffer);
  const entryId = rawId.toString();
  const letter: DeadLetter = {
    id: fields.get('i')?.toString() ?? '',
    reason: fields.get('r')?.toString() ?? '',
    attempts: Number(fields.get('a')?.toString() ?? 0),
    // The entry id's first part is the server time (ms) it was dead-lettered.
    deadLetteredAt: Number(entryId.split('-')[0]),
    body: fields.get('p') ?? Buffer.alloc(0),
  };
  const stack = fields.get('s');
  if (stack) letter.stack = stack.toString();
  return { partition, entryId, letter };
}

/** Newest first across partitions: by time, then by entry sequence. */
function newestFirst(a: Located, b: Located): number {
  const at = b.letter.deadLetteredAt - a.letter.deadLetteredAt;
  if (at !== 0) return at;
  return (
    Number(b.entryId.split('-')[1]) - Number(a.entryId.split('-')[1]) || b.partition.index - a.partition.index
  );
}

const refOf = ({ partition, entryId, letter }: Located): DeadLetterRef => {
  const cut = truncatedSize(letter.reason);
  return {
    id: letter.id,
    deadLetteredAt: letter.deadLetteredAt,
    size: cut ?? letter.body.length,
    ...(cut === undefined ? {} : { truncated: true }),
    locator: `${partition.index}/${entryId}`,
  };
};

/** Streams mode: one dead-letter stream per partition (`{prefix:i}:dlq`, entries {i, p, r, a[, s]}). */
export function streamsDeadLetterStore(
  client: DataClient,
  partitions: readonly PartitionKeys[],
): DeadLetterStore {
  /** Every entry of every partition the filter matches (time bounds go to Redis), bodies dropped. */
  async function scan(filter: DeadLetterFilter, keep: (found: Located) => boolean): Promise<Located[]> {
    const perPartition = await Promise.all(
      partitions.map(async (partition) => {
        const out: Located[] = [];
        let start = filter.after === undefined ? '-' : String(filter.after);
        const end = filter.before === undefined ? '+' : String(filter.before);
        for (;;) {
          const page = (await client.callBuffer(
            'XRANGE',
            partition.dlq,
            start,
            end,
            'COUNT',
            PAGE,
          )) as Entry[];
          for (const entry of page) {
            const found = parse(partition, entry);
            if (reasonMatches(filter, found.letter.reason) && keep(found)) out.push(found);
          }
          const last = page[page.length - 1];
          if (page.length < PAGE || !last) return out;
          start = `(${last[0].toString()}`;
        }
      }),
    );
    return perPartition.flat().sort(newestFirst);
  }

  /** Re-reads the full entries (bodies) of a page. */
  async function load(page: Located[]): Promise<DeadLetter[]> {
    const full = await Promise.all(
      page.map(async ({ partition, entryId, letter }) => {
        const [entry] = (await client.callBuffer('XRANGE', partition.dlq, entryId, entryId)) as Entry[];
        return entry ? parse(partition, entry).letter : letter;
      }),
    );
    return full;
  }

  const byPartition = (refs: readonly DeadLetterRef[]) => {
    const groups = new Map<number, string[]>();
    for (const ref of refs) {
      const [index, entryId] = ref.locator.split('/');
      const list = groups.get(Number(index)) ?? [];
      list.push(entryId ?? '');
      groups.set(Number(index), list);
    }
    return [...groups].map(([index, entryIds]) => {
      const partition = partitions.find((p) => p.index === index);
      if (!partition) throw new Error(`no partition ${index}`);
      return { partition, entryIds };
    });
  };

  const chunked = async (entryIds: string[], run: (chunk: string[]) => Promise<number>) => {
    let total = 0;
    for (let i = 0; i < entryIds.length; i += PAGE) total += await run(entryIds.slice(i, i + PAGE));
    return total;
  };

  // Listings keep only metadata in memory: the body's size stands in for the body until a page is loaded.
  const slim = (found: Located): boolean => {
    found.letter.body = Buffer.alloc(found.letter.body.length);
    return true;
  };

  return {
    async query(filter, offset, limit) {
      const all = await scan(filter, slim);
      return { total: all.length, letters: await load(all.slice(offset, offset + limit)) };
    },
    async show(id) {
      return (await scan({}, (found) => found.letter.id === id)).map((found) => found.letter);
    },
    async select(selection: DeadLetterSelection) {
      if (selection.kind === 'filter')
        return { refs: (await scan(selection.filter, slim)).map(refOf), missing: [] };
      const wanted = new Set(selection.ids);
      const found = await scan({}, (entry) => wanted.has(entry.letter.id) && slim(entry));
      return {
        refs: found.map(refOf),
        missing: missingIds(
          selection.ids,
          found.map((f) => f.letter.id),
        ),
      };
    },
    async replay(refs) {
      const counts = await Promise.all(
        byPartition(refs).map(({ partition, entryIds }) =>
          chunked(entryIds, (chunk) => streamDlqReplayEntries(client, partition, { entryIds: chunk })),
        ),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
    async purge(refs) {
      const counts = await Promise.all(
        byPartition(refs).map(({ partition, entryIds }) =>
          chunked(entryIds, (chunk) => client.xdel(partition.dlq, ...chunk)),
        ),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
  };
}
