import { spawnSync } from 'node:child_process';
import { LOCAL_REDIS_IMAGE, type RedisHandle, startRedis, startRedisContainer } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

// Needs a Docker engine (.ci/start-docker.sh) and the local image (.ci/build-redis-image.sh). Without
// them the suite is skipped, loudly: a silent skip would hide that the containers backend went untested.
const image = process.env.REDISPATCH_TEST_REDIS_IMAGE || LOCAL_REDIS_IMAGE;
const engineUp = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const imagePresent =
  engineUp &&
  spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const dockerAvailable = engineUp && imagePresent;
if (!dockerAvailable) {
  const why = engineUp
    ? `image ${image} missing (run .ci/build-redis-image.sh)`
    : 'no engine answers `docker info` (run .ci/start-docker.sh)';
  // CI (.ci/run) provides Docker and says so: there a missing engine or image fails the run, never skips.
  if (process.env.REDISPATCH_REQUIRE_DOCKER === '1')
    throw new Error(`REDISPATCH_REQUIRE_DOCKER=1 but the containers backend cannot run: ${why}`);
  console.warn(
    [
      '',
      '*************************************************************************',
      '*** Docker engine unavailable: container tests SKIPPED ***',
      `*** ${why}`,
      '*************************************************************************',
      '',
    ].join('\n'),
  );
}

const clients: Redis[] = [];
const handles: RedisHandle[] = [];

function client(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => {}); // reconnect noise while the server is killed, restarted or stopped
  clients.push(redis);
  return redis;
}

afterEach(async () => {
  for (const redis of clients.splice(0)) redis.disconnect();
  await Promise.all(handles.splice(0).map((handle) => handle.stop()));
});

async function pubSubRoundTrip(url: string, channel: string, message: string): Promise<string> {
  const subscriber = client(url);
  const publisher = client(url);
  const received = new Promise<string>((resolve) => {
    subscriber.on('message', (from: string, payload: string) => {
      if (from === channel) resolve(payload);
    });
  });
  await subscriber.subscribe(channel);
  expect(await publisher.publish(channel, message)).toBe(1);
  return received;
}

describe.skipIf(!dockerAvailable)('redis containers backend', () => {
  it('serves SET/GET and pub/sub on loopback, survives a restart, and stops', async () => {
    const handle = await startRedisContainer();
    handles.push(handle);
    expect(handle.backend).toBe('container');
    expect(handle.host).toBe('127.0.0.1');
    expect(handle.url).toBe(`redis://127.0.0.1:${handle.port}`);

    const redis = client(handle.url);
    expect(await redis.set('smoke:key', 'value')).toBe('OK');
    expect(await redis.get('smoke:key')).toBe('value');
    expect(await pubSubRoundTrip(handle.url, 'smoke:channel', 'hello')).toBe('hello');

    const portBefore = handle.port;
    handle.signal('SIGKILL');
    await handle.restart();
    expect(handle.port).toBe(portBefore);
    const again = client(handle.url);
    expect(await again.ping()).toBe('PONG');
    // Nothing is persisted (--save '' --appendonly no), as with the process backend.
    expect(await again.get('smoke:key')).toBeNull();
    expect(await pubSubRoundTrip(handle.url, 'smoke:after-restart', 'again')).toBe('again');

    await handle.stop();
    await handle.stop(); // idempotent
    const probe = new Redis(handle.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    probe.on('error', () => {});
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
  });

  it('pauses with SIGSTOP and resumes with SIGCONT', async () => {
    const handle = await startRedisContainer({ args: ['--maxmemory', '64mb'] });
    handles.push(handle);
    const redis = client(handle.url);
    expect(await redis.config('GET', 'maxmemory')).toEqual(['maxmemory', String(64 * 1024 * 1024)]);
    handle.signal('SIGSTOP');
    const ping = redis.ping();
    const outcome = await Promise.race([
      ping,
      new Promise((resolve) => setTimeout(() => resolve('stalled'), 300)),
    ]);
    expect(outcome).toBe('stalled');
    handle.signal('SIGCONT');
    expect(await ping).toBe('PONG');
  });

  it('is what startRedis returns with REDISPATCH_TEST_BACKEND=containers', async () => {
    const previous = process.env.REDISPATCH_TEST_BACKEND;
    process.env.REDISPATCH_TEST_BACKEND = 'containers';
    try {
      const handle = await startRedis();
      handles.push(handle);
      expect(handle.backend).toBe('container');
      expect(await client(handle.url).ping()).toBe('PONG');
    } finally {
      if (previous === undefined) delete process.env.REDISPATCH_TEST_BACKEND;
      else process.env.REDISPATCH_TEST_BACKEND = previous;
    }
  });
});
