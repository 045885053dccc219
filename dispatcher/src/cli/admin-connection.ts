import {
  type Config,
  closeQuietly,
  connectOrThrow,
  createDataConnection,
  createKeys,
  type DataClient,
  dataSetting,
  dataTarget,
  type Keys,
  loadPartitions,
  type PartitionKeys,
  tlsSettingsFrom,
} from '@redispatch/shared';

/** A short-lived command connection for admin commands (stats, dlq, publish); a cluster in streams mode. */
export async function withAdminConnection<T>(
  config: Config,
  use: (client: DataClient) => Promise<T>,
): Promise<T> {
  const settings = {
    url: config.redisUrl,
    clusterNodes: config.mode === 'streams' ? config.clusterNodes : undefined,
    clusterNatMap: config.clusterNatMap,
  };
  const client = createDataConnection('command', {
    ...settings,
    tls: tlsSettingsFrom(config),
    commandTimeoutMs: Math.max(config.commandTimeoutMs, 5_000),
    name: 'rd-admin',
  });
  if (config.tlsInsecure)
    process.stderr.write(
      'redispatch: WARNING: TLS certificate verification is DISABLED (REDISPATCH_TLS_INSECURE=true); never use this in production\n',
    );
  await connectOrThrow(client, dataTarget(settings), dataSetting(settings), config.commandTimeoutMs * 5);
  try {
    return await use(client);
  } finally {
    await closeQuietly(client);
  }
}

/** What admin commands need to address one deployment's structures in either mode. */
export interface AdminScope {
  client: DataClient;
  keys: Keys;
  /** Streams mode only (empty in lists mode). */
  partitions: PartitionKeys[];
}

export function withAdminScope<T>(config: Config, use: (scope: AdminScope) => Promise<T>): Promise<T> {
  return withAdminConnection(config, async (client) => {
    const keys = createKeys(config.prefix);
    const partitions =
      config.mode === 'streams' ? await loadPartitions(client, keys, config.prefix, config.partitions) : [];
    return use({ client, keys, partitions });
  });
}
