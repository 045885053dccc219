import type { PartitionKeys } from '../../streams/partition-keys.js';
import type { Keys } from '../keys.js';
import type { ScriptClient } from './script-client.js';

type DeadLetterKeys = Pick<Keys, 'dlq' | 'body' | 'attempts' | 'errors' | 'backlog' | 'totals'>;
type StreamDeadLetterKeys = Pick<PartitionKeys, 'dlq' | 'stream' | 'priorityStream' | 'totals'>;

/** Which dead letters to replay: the oldest `limit`, or the given message ids. */
export type ReplaySelection = { oldest: number } | { ids: readonly string[] };

function replayArgs(selection: ReplaySelection): (string | number)[] {
  return 'oldest' in selection ? ['*', selection.oldest] : ['', 0, ...selection.ids];
}

/** dlqReplay-5.lua: dead letters back into routing with a fresh attempt count; returns how many. */
export function dlqReplay(
  client: ScriptClient,
  keys: DeadLetterKeys,
  selection: ReplaySelection,
): Promise<number> {
  return client.rdDlqReplay(
    keys.dlq,
    keys.attempts,
    keys.errors,
    keys.backlog,
    keys.totals,
    ...replayArgs(selection),
  );
}

/** dlqPurge-4.lua: deletes up to `limit` of the oldest dead letters and their bodies. */
export function dlqPurge(
  client: ScriptClient,
  keys: DeadLetterKeys,
  args: { limit: number },
): Promise<number> {
  return client.rdDlqPurge(keys.dlq, keys.body, keys.attempts, keys.errors, args.limit);
}

/** dlqPurgeIds-4.lua: deletes the given dead letters (ids no longer dead-lettered are skipped). */
export function dlqPurgeIds(
  client: ScriptClient,
  keys: DeadLetterKeys,
  args: { ids: readonly string[] },
): Promise<number> {
  return client.rdDlqPurgeIds(keys.dlq, keys.body, keys.attempts, keys.errors, ...args.ids);
}

/** streamDlqReplay-4.lua: one partition's dead letters back into its stream; returns how many. */
export function streamDlqReplay(
  client: ScriptClient,
  keys: StreamDeadLetterKeys,
  selection: ReplaySelection,
): Promise<number> {
  return client.rdStreamDlqReplay(
    keys.dlq,
    keys.stream,
    keys.totals,
    keys.priorityStream,
    ...replayArgs(selection),
  );
}

/** streamDlqPurge-1.lua: deletes up to `limit` of one partition's dead letters. */
export function streamDlqPurge(
  client: ScriptClient,
  keys: Pick<PartitionKeys, 'dlq'>,
  args: { limit: number },
): Promise<number> {
  return client.rdStreamDlqPurge(keys.dlq, args.limit);
}

/** streamDlqReplayEntries-4.lua: the given dead-letter entries (entry ids) back into the stream. */
export function streamDlqReplayEntries(
  client: ScriptClient,
  keys: StreamDeadLetterKeys,
  args: { entryIds: readonly string[] },
): Promise<number> {
  return client.rdStreamDlqReplayEntries(
    keys.dlq,
    keys.stream,
    keys.totals,
    keys.priorityStream,
    ...args.entryIds,
  );
}
