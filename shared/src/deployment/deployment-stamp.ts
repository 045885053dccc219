import type { DataClient } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';

/**
 * The layout of a deployment's keys this version reads and writes. Raised when a release changes
 * it incompatibly, so an older process refuses a deployment a newer one created (and the reverse).
 */
export const DEPLOYMENT_FORMAT = 1;

export type DeploymentMode = 'lists' | 'streams';

/** What `{prefix}:deployment` holds (JSON), written once by the deployment's first process. */
export interface DeploymentStamp {
  mode: DeploymentMode;
  /** Streams mode: the partition count; 0 in lists mode. */
  partitions: number;
  format: number;
  /** When it was stamped (ms since the epoch, the stamping process's clock). */
  stampedAt: number;
}

/**
 * What the reads found:
 * - `stamped`: the stamp exists.
 * - `inferred`: no stamp, but keys of an earlier version's deployment: its mode, read off them.
 * - `empty`: nothing of a deployment under the prefix.
 */
export type DeploymentReading =
  | { state: 'stamped'; stamp: DeploymentStamp }
  | { state: 'inferred'; mode: DeploymentMode }
  | { state: 'empty' };

function parseStamp(key: string, raw: string): DeploymentStamp {
  let value: Partial<DeploymentStamp> | undefined;
  try {
    value = JSON.parse(raw) as Partial<DeploymentStamp>;
  } catch {
    value = undefined;
  }
  if (
    (value?.mode !== 'lists' && value?.mode !== 'streams') ||
    typeof value.partitions !== 'number' ||
    typeof value.format !== 'number'
  )
    throw new Error(`${key} does not hold a deployment stamp ({"mode","partitions","format",…})`);
  return {
    mode: value.mode,
    partitions: value.partitions,
    format: value.format,
    stampedAt: Number(value.stampedAt ?? 0),
  };
}

/**
 * Reads the stamp, or infers the mode of a deployment an earlier version created: a partition table
 * means streams (every streams-mode process writes it at start, before anything else), an epoch or a
 * worker registry without one means lists. All four keys share the deployment's hash tag, so a
 * Redis Cluster serves them from one node.
 */
export async function readDeployment(client: DataClient, keys: Keys): Promise<DeploymentReading> {
  const [stamp, table, epoch, workers] = await Promise.all([
    client.get(keys.deployment),
    client.exists(keys.partitions),
    client.exists(keys.epoch),
    client.exists(keys.workers),
  ]);
  if (stamp !== null) return { state: 'stamped', stamp: parseStamp(keys.deployment, stamp) };
  if (table > 0) return { state: 'inferred', mode: 'streams' };
  if (epoch > 0 || workers > 0) return { state: 'inferred', mode: 'lists' };
  return { state: 'empty' };
}

/**
 * Writes the stamp unless one exists (SET NX) and returns the one that stands: this process's, or
 * the one a concurrent first process wrote.
 */
export async function writeDeploymentStamp(
  client: DataClient,
  keys: Keys,
  shape: { mode: DeploymentMode; partitions: number },
): Promise<DeploymentStamp> {
  const stamp: DeploymentStamp = {
    mode: shape.mode,
    partitions: shape.mode === 'streams' ? shape.partitions : 0,
    format: DEPLOYMENT_FORMAT,
    stampedAt: Date.now(),
  };
  await client.set(keys.deployment, JSON.stringify(stamp), 'NX');
  const stored = await client.get(keys.deployment);
  if (stored === null) throw new Error(`${keys.deployment} vanished right after it was stamped`);
  return parseStamp(keys.deployment, stored);
}
