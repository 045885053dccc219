import { streamDlqPurge, streamDlqReplay } from '../redis/calls/dead-letter-calls.js';
import type { DataClient } from '../redis/data-connection.js';
import type { PartitionKeys } from '../streams/partition-keys.js';
import type { DeadLetter } from './dead-letters.js';

const CHUNK = 1_000;

type Entry = [Buffer, Buffer[]];

function toDeadLetter(entry: Entry): DeadLetter {
  const [entryId, flat] = entry;
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2)
    fields.set((flat[i] as Buffer).toString(), flat[i + 1] as Buffer);
  return {
    id: fields.get('i')?.toString() ?? '',
    reason: fields.get('r')?.toString() ?? '',
    attempts: Number(fields.get('a')?.toString() ?? 0),
    // The entry id's first part is the server time (ms) it was dead-lettered.
    deadLetteredAt: Number(entryId.toString().split('-')[0]),
    body: fields.get('p') ?? Buffer.alloc(0),
  };
}

/** Streams mode: dead letters of every partition, oldest first. */
export async function listStreamDeadLetters(
  client: DataClient,
  partitions: readonly PartitionKeys[],
  limit: number,
): Promise<DeadLetter[]> {
  const pages = await Promise.all(
    partitions.map((p) => client.callBuffer('XRANGE', p.dlq, '-', '+', 'COUNT', limit) as Promise<Entry[]>),
  );
  return pages
    .flat()
    .map(toDeadLetter)
    .sort((a, b) => a.deadLetteredAt - b.deadLetteredAt)
    .slice(0, limit);
}

/** Streams mode: replays dead letters (by message id, or all) into their partition with fresh attempts. */
export async function replayStreamDeadLetters(
  client: DataClient,
  partitions: readonly PartitionKeys[],
  ids: readonly string[] | 'all',
): Promise<number> {
  const counts = await Promise.all(
    partitions.map(async (p) => {
      if (ids !== 'all') return streamDlqReplay(client, p, { ids });
      let total = 0;
      for (;;) {
        const replayed = await streamDlqReplay(client, p, { oldest: CHUNK });
        total += replayed;
        if (replayed < CHUNK) return total;
      }
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Streams mode: deletes every partition's dead letters, in bounded chunks. */
export async function purgeStreamDeadLetters(
  client: DataClient,
  partitions: readonly PartitionKeys[],
): Promise<number> {
  const counts = await Promise.all(
    partitions.map(async (p) => {
      let total = 0;
      for (;;) {
        const purged = await streamDlqPurge(client, p, { limit: CHUNK });
        total += purged;
        if (purged < CHUNK) return total;
      }
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}
