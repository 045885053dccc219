import { ConfigError } from '../errors.js';
import { calculateSlot, type DataClient, isCluster } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';
import { type PartitionKeys, partitionKeys } from './partition-keys.js';
import { assertNoPrefixCollision } from './prefix-collision.js';

type SlotsReply = [number, number, [string, number, ...unknown[]], ...unknown[]][];

/** Longest search for a hash tag landing on a given master (each try hits a 1-in-M chance). */
const MAX_SALT = 100_000;

/**
 * Chooses P partition tags so partition i lands on master i mod M (masters sorted by address), using
 * the smallest salt that puts `<prefix>:<i>[.<salt>]` in one of that master's slots and in a slot no
 * other partition took. A single Redis (development) just gets `<prefix>:<i>`.
 */
export async function planPartitionTags(
  client: DataClient,
  prefix: string,
  count: number,
): Promise<string[]> {
  if (!isCluster(client)) return Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
  const slots = (await client.cluster('SLOTS')) as unknown as SlotsReply;
  const byMaster = new Map<string, [number, number][]>();
  for (const [start, end, [host, port]] of slots) {
    const key = `${host}:${port}`;
    byMaster.set(key, [...(byMaster.get(key) ?? []), [start, end]]);
  }
  const masters = [...byMaster.keys()].sort();
  if (masters.length === 0) throw new Error('the cluster reports no slots served');
  const taken = new Set<number>();
  const tags: string[] = [];
  for (let i = 0; i < count; i++) {
    const ranges = byMaster.get(masters[i % masters.length] as string) ?? [];
    let chosen: string | undefined;
    for (let salt = 0; salt < MAX_SALT && chosen === undefined; salt++) {
      const tag = salt === 0 ? `${prefix}:${i}` : `${prefix}:${i}.${salt}`;
      const slot = calculateSlot(tag);
      if (!taken.has(slot) && ranges.some(([start, end]) => slot >= start && slot <= end)) {
        taken.add(slot);
        chosen = tag;
      }
    }
    tags.push(chosen ?? `${prefix}:${i}`);
  }
  return tags;
}

export interface LoadPartitionsOptions {
  /**
   * Check that no other deployment shares this one's keys (prefix-collision.ts). The dispatcher
   * does, since it is what writes; workers and admin commands skip the reads, which their
   * least-privilege users may not make.
   */
  refuseCollisions?: boolean;
}

/**
 * The deployment's partitions. The first process to start writes the table (SET NX) and every
 * other process reads the same one, so all agree on the names whatever the slot map looks like
 * later (resharding moves the slots; the names stay). A table of another size is refused: changing
 * REDISPATCH_PARTITIONS on a deployment that has written would strand what the old partitions hold,
 * and so is a prefix whose keys another deployment's would share (prefix-collision.ts).
 */
export async function loadPartitions(
  client: DataClient,
  keys: Keys,
  prefix: string,
  count: number,
  options: LoadPartitionsOptions = {},
): Promise<PartitionKeys[]> {
  let stored = await client.get(keys.partitions);
  // The table whose tags passed the collision check, so a first start does not check twice.
  let checked: string | undefined;
  if (stored === null) {
    const tags = await planPartitionTags(client, prefix, count);
    // Refuse a colliding prefix before writing anything under it.
    if (options.refuseCollisions) {
      await assertNoPrefixCollision(client, prefix, tags);
      checked = JSON.stringify(tags);
    }
    try {
      await client.set(keys.partitions, JSON.stringify(tags), 'NX');
      stored = await client.get(keys.partitions);
    } catch (error) {
      // A least-privilege worker or admin user may only read the table (shared/src/security/acl.ts):
      // it waits for a dispatcher to write it rather than failing for having started first.
      if (!/NOPERM/.test((error as Error).message)) throw error;
      stored = await waitForTable(client, keys);
    }
  }
  let tags: unknown;
  try {
    tags = JSON.parse(stored ?? '');
  } catch {
    tags = undefined;
  }
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) {
    throw new Error(`${keys.partitions} does not hold a partition table (a JSON list of tags)`);
  }
  if (tags.length !== count) throw partitionCountError(prefix, count, tags.length);
  // Checked again only if the table is older, or another process's SET NX won with other tags.
  if (options.refuseCollisions && stored !== checked)
    await assertNoPrefixCollision(client, prefix, tags as string[]);
  return (tags as string[]).map((tag, index) => partitionKeys(index, tag));
}

/** REDISPATCH_PARTITIONS differs from the count the deployment was created with. */
export function partitionCountError(prefix: string, configured: number, created: number): ConfigError {
  return new ConfigError([
    `REDISPATCH_PARTITIONS is ${configured} but the deployment with prefix "${prefix}" was created with ${created} partitions; set REDISPATCH_PARTITIONS=${created} (changing it would strand what the existing partitions hold)`,
  ]);
}

/** How long a user that may not write the partition table waits for a dispatcher to write it. */
const TABLE_WAIT_MS = 60_000;

async function waitForTable(client: DataClient, keys: Keys): Promise<string> {
  const deadline = Date.now() + TABLE_WAIT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const stored = await client.get(keys.partitions);
    if (stored !== null) return stored;
  }
  throw new Error(
    `${keys.partitions} does not exist and this Redis user may not create it (NOPERM); start a dispatcher first`,
  );
}
