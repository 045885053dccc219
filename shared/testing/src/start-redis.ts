import { hasRedisServerBinary, type RedisServerOptions } from '@redispatch/shared/embedded';
import { type RedisHandle, startRedisProcess } from './redis-server.js';

/**
 * The one entry point tests use to get a Redis. Backend: `REDISPATCH_TEST_BACKEND=process` (the
 * default when redis-server is on PATH) or `containers` (testcontainers; the default without it).
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisHandle> {
  const backend = process.env.REDISPATCH_TEST_BACKEND ?? (hasRedisServerBinary() ? 'process' : 'containers');
  if (backend === 'process') return startRedisProcess(options);
  const { startRedisContainer } = await import('./redis-container.js');
  return startRedisContainer(options);
}
