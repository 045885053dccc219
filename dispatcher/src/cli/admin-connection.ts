import {
  type Config,
  closeQuietly,
  connectOrThrow,
  createDataConnection,
  createKeys,
  type DataClient,
  dataSetting,
  dataTarget,
  joinDeployment,
  type Keys,
  type PartitionKeys,
  tlsSettingsFrom,
} from '@redispatch/shared';

/**
 * A short-lived command connection for admin commands; a cluster in streams mode. Commands that touch
 * a deployment's keys go through `withAdminScope`, which checks the deployment's shape first.
 */
export async function withAdminConnection<T>(
  config: Config,
  use: (client: DataClient) => Promise<T>,
): Promise<T> {
  const client = await openAdminConnection(config, 'rd-admin');
  try {
    return await use(client);
  } finally {
    await closeQuietly(client);
  }
}

/** A connected admin connection; the caller closes it (`redispatch console` keeps one open). */
async function openAdminConnection(config: Config, name: string): Promise<DataClient> {
  const settings = {
    url: config.redisUrl,
    clusterNodes: config.mode === 'streams' ? config.clusterNodes : undefined,
    clusterNatMap: config.clusterNatMap,
  };
  const client = createDataConnection('command', {
    ...settings,
    tls: tlsSettingsFrom(config),
    commandTimeoutMs: Math.max(config.commandTimeoutMs, 5_000),
    name,
  });
  if (config.tlsInsecure)
    process.stderr.write(
      'redispatch: WARNING: TLS certificate verification is DISABLED (REDISPATCH_TLS_INSECURE=true); never use this in production\n',
    );
  try {
    await connectOrThrow(client, dataTarget(settings), dataSetting(settings), config.commandTimeoutMs * 5);
  } catch (error) {
    await closeQuietly(client);
    throw error;
  }
  return client;
}

/** What admin commands need to address one deployment's structures in either mode. */
export interface AdminScope {
  client: DataClient;
  keys: Keys;
  /** Streams mode only (empty in lists mode). */
  partitions: PartitionKeys[];
}

export function withAdminScope<T>(config: Config, use: (scope: AdminScope) => Promise<T>): Promise<T> {
  return withAdminConnection(config, async (client) => use(await scopeOf(config, client)));
}

/** A long-lived scope (the console's): joined once, closed by the caller. */
export async function openAdminScope(
  config: Config,
  name: string,
): Promise<AdminScope & { close(): Promise<void> }> {
  const client = await openAdminConnection(config, name);
  try {
    return { ...(await scopeOf(config, client)), close: () => closeQuietly(client) };
  } catch (error) {
    await closeQuietly(client);
    throw error;
  }
}

async function scopeOf(config: Config, client: DataClient): Promise<AdminScope> {
  const keys = createKeys(config.prefix);
  // Refuses a deployment of another mode or partition count (guarantee 8): its stats and dead
  // letters would be read from, or replayed into, structures nothing of it uses.
  const partitions = await joinDeployment(client, keys, {
    prefix: config.prefix,
    mode: config.mode,
    partitions: config.partitions,
    stamp: false,
    loadPartitions: true,
  });
  return { client, keys, partitions };
}
