import { ConfigError } from '../errors.js';
import type { DataClient } from '../redis/data-connection.js';
import { createKeys } from '../redis/keys.js';

/** A prefix that is itself a partition tag of another: `<parent>:<n>` or `<parent>:<n>.<salt>`. */
const PARTITION_TAG = /^(.+):\d+(?:\.\d+)?$/;

/**
 * Streams mode names partition keys `{<prefix>:<n>[.<salt>]}:…` and a deployment's own keys
 * `{<prefix>}:…`. Prefixes may contain `:`, so a deployment with prefix `rd:1` and one with prefix
 * `rd` on the same cluster would share keys (`{rd:1}:totals`, `{rd:1}:progress`, …): each would
 * silently corrupt the other's counters, markers and dead letters. Refused before anything is
 * written, from whichever side starts second.
 *
 * Both checks are reads. One this Redis user may not make (NOPERM under a least-privilege ACL user,
 * whose patterns stop at its own keys) is skipped: the deployment's dispatcher user can read its own
 * partitions' keys, so the side whose partitions collide still finds out.
 */
export async function assertNoPrefixCollision(
  client: DataClient,
  prefix: string,
  tags: readonly string[],
): Promise<void> {
  const [asPartition, ...asDeployment] = await Promise.all([
    parentClaiming(client, prefix),
    // Every deployment, in either mode, has an epoch key once a leader was elected; partitions never do.
    ...tags.map(async (tag) => ((await orSkip(client.exists(createKeys(tag).epoch), 0)) > 0 ? tag : null)),
  ]);
  if (asPartition !== undefined) {
    throw new ConfigError([
      `REDISPATCH_PREFIX "${prefix}" is a partition of the streams deployment with prefix "${asPartition}" on this Redis (both would use the keys {${prefix}}:…); choose a prefix that does not extend another deployment's with ":<number>"`,
    ]);
  }
  const taken = asDeployment.find((tag) => tag !== null);
  if (taken) {
    throw new ConfigError([
      `REDISPATCH_PREFIX "${prefix}": another deployment on this Redis has the prefix "${taken}", which is one of this deployment's partitions (both would use the keys {${taken}}:…); give one of them a prefix that does not extend the other's with ":<number>"`,
    ]);
  }
}

/** The parent deployment whose partition table lists `prefix` as one of its partitions, if any. */
async function parentClaiming(client: DataClient, prefix: string): Promise<string | undefined> {
  const parent = PARTITION_TAG.exec(prefix)?.[1];
  if (parent === undefined) return undefined;
  const stored = await orSkip(client.get(createKeys(parent).partitions), null);
  if (stored === null) return undefined;
  try {
    const tags: unknown = JSON.parse(stored);
    return Array.isArray(tags) && tags.includes(prefix) ? parent : undefined;
  } catch {
    return undefined;
  }
}

async function orSkip<T>(read: Promise<T>, skipped: T): Promise<T> {
  try {
    return await read;
  } catch (error) {
    if (/NOPERM/.test((error as Error).message)) return skipped;
    throw error;
  }
}
