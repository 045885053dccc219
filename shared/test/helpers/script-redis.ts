import { createConnection, createKeys, type Keys } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach } from 'vitest';

/**
 * The setup of a file that calls scripts directly: one redis-server and one connection for the
 * file, and a fresh prefix (`<prefixBase><n>`) before each test so tests never see each other's keys.
 * The callbacks hand the connection and each test's keys to the file's own variables.
 */
export function useScriptRedis(
  name: string,
  prefixBase: string,
  onConnected: (redis: Redis) => void,
  onPrefix: (keys: Keys) => void,
): void {
  let server: RedisHandle | undefined;
  let redis: Redis | undefined;
  let counter = 0;
  beforeAll(async () => {
    server = await startRedis();
    redis = createConnection('command', {
      url: server.url,
      tls: { insecure: false },
      commandTimeoutMs: 5_000,
      name,
    });
    await redis.connect();
    onConnected(redis);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(() => {
    counter += 1;
    onPrefix(createKeys(`${prefixBase}${counter}`));
  });
}
