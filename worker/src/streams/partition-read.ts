import type { DataClient, PartitionKeys } from '@redispatch/shared';

/** One entry as XREADGROUP returns it: id and flat field list. */
export type StreamEntry = [Buffer, Buffer[]];

type ReadReply = [Buffer, StreamEntry[]][] | null;

/** What one read of a partition took: entries of its priority stream (highest level first), then the rest. */
export interface PartitionRead {
  prioritized: StreamEntry[];
  normal: StreamEntry[];
}

export interface PartitionReadArgs {
  group: string;
  consumer: string;
  count: number;
  blockMs: number;
  /** True once the partition's priority stream exists (learnt from the reclaim pass). */
  withPriority: boolean;
}

/**
 * One read of a partition for this consumer. Without a priority stream: one blocking XREADGROUP of
 * the partition stream, as always. With one: a non-blocking read of the priority stream first (what
 * waits there goes ahead of everything in the partition stream); only when it is empty, one blocking
 * read of both (`STREAMS hi normal > >`), so a prioritized message also wakes a blocked reader. That
 * read can return up to `count` from each when both receive entries during the block; the worker
 * keeps the surplus as prefetched.
 */
export async function readPartition(
  reader: DataClient,
  p: PartitionKeys,
  { group, consumer, count, blockMs, withPriority }: PartitionReadArgs,
): Promise<PartitionRead> {
  const read = (block: number | undefined, streams: string[]) =>
    reader.callBuffer(
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      count,
      ...(block === undefined ? [] : ['BLOCK', block]),
      'STREAMS',
      ...streams,
      ...streams.map(() => '>'),
    ) as Promise<ReadReply>;
  if (!withPriority) return { prioritized: [], normal: entriesOf(await read(blockMs, [p.stream]), p.stream) };
  const first = entriesOf(await read(undefined, [p.priorityStream]), p.priorityStream);
  if (first.length > 0) return { prioritized: byLevel(first), normal: [] };
  const reply = await read(blockMs, [p.priorityStream, p.stream]);
  return {
    prioritized: byLevel(entriesOf(reply, p.priorityStream)),
    normal: entriesOf(reply, p.stream),
  };
}

function entriesOf(reply: ReadReply, key: string): StreamEntry[] {
  return reply?.find(([name]) => name.toString() === key)?.[1] ?? [];
}

/** Highest level ('q' field) first; equal levels keep their stream order (Array sort is stable). */
export function byLevel(entries: StreamEntry[]): StreamEntry[] {
  if (entries.length < 2) return entries;
  return entries
    .map((entry) => ({ entry, level: levelOf(entry[1]) }))
    .sort((a, b) => b.level - a.level)
    .map(({ entry }) => entry);
}

function levelOf(fields: Buffer[]): number {
  for (let f = 0; f + 1 < fields.length; f += 2)
    if ((fields[f] as Buffer).toString() === 'q') return Number((fields[f + 1] as Buffer).toString());
  return 0;
}
