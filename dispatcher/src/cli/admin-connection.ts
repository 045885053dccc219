import { type Config, closeQuietly, connectOrThrow, createConnection } from '@redispatch/shared';
import type { Redis } from 'ioredis';

/** A short-lived command connection for admin commands (stats, dlq, publish). */
export async function withAdminConnection<T>(config: Config, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = createConnection('command', {
    url: config.redisUrl,
    tls: {
      caFile: config.tlsCaFile,
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
      insecure: config.tlsInsecure,
    },
    commandTimeoutMs: Math.max(config.commandTimeoutMs, 5_000),
    name: 'rd-admin',
  });
  if (config.tlsInsecure)
    process.stderr.write(
      'redispatch: WARNING: TLS certificate verification is DISABLED (REDISPATCH_TLS_INSECURE=true); never use this in production\n',
    );
  await connectOrThrow(redis, config.redisUrl, 'REDISPATCH_REDIS_URL', config.commandTimeoutMs * 5);
  try {
    return await use(redis);
  } finally {
    await closeQuietly(redis);
  }
}
