import { spawnSync } from 'node:child_process';
import { freePort, type RedisServerOptions, waitForRedis } from '@redispatch/shared/embedded';
import type { GenericContainer, ImagePullPolicy, StartedTestContainer, WaitStrategy } from 'testcontainers';
import type { RedisHandle } from './redis-server.js';

/**
 * The image the containers backend runs. No registry can be reached from our machines, so it is never
 * pulled: `.ci/build-redis-image.sh` assembles it with `docker import` from the host's redis-server.
 * `REDISPATCH_TEST_REDIS_IMAGE` names another image that is already present locally.
 */
export const LOCAL_REDIS_IMAGE = 'redispatch/redis-local:7';

/** Label on every container this backend starts: `docker rm -f $(docker ps -aq --filter label=redispatch.test)`. */
export const REDIS_CONTAINER_LABEL = 'redispatch.test';

const REDIS_PORT = 6379;

/** Containers still running, removed on process exit as a safety net (Ryuk, which would do it, is off). */
const liveContainers = new Set<string>();
let exitHookInstalled = false;

function redisImage(): string {
  return process.env.REDISPATCH_TEST_REDIS_IMAGE || LOCAL_REDIS_IMAGE;
}

/**
 * testcontainers must only ever talk to loopback and must not start Ryuk (its image cannot be pulled
 * here). Sets both variables when unset; refuses to run with anything else.
 */
function pinTestcontainersEnv(): void {
  const required = { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' };
  for (const [name, value] of Object.entries(required)) {
    const current = process.env[name];
    if (current === undefined || current === '') process.env[name] = value;
    else if (current !== value) {
      throw new Error(`redis-container: ${name}=${current}, but the test backend requires ${name}=${value}`);
    }
  }
}

/** Readiness is waitForRedis's job (PING over the mapped port); the image has no shell for testcontainers' checks. */
function noWait(): WaitStrategy {
  let timeoutMs = 60_000;
  const strategy: WaitStrategy = {
    waitUntilReady: async () => {},
    withStartupTimeout: (ms) => {
      timeoutMs = ms;
      return strategy;
    },
    isStartupTimeoutSet: () => true,
    getStartupTimeout: () => timeoutMs,
  };
  return strategy;
}

/**
 * testcontainers 11.9 has no never-pull policy: its default pulls when the image is missing. This one
 * never forces a pull, and startRedisContainer checks that the image exists before start(), so nothing
 * is ever pulled.
 */
const NEVER_PULL: ImagePullPolicy = { shouldPull: () => false };

function dockerKill(containerId: string, signal: NodeJS.Signals): void {
  const result = spawnSync('docker', ['kill', '--signal', signal, containerId], { encoding: 'utf8' });
  if (result.error) throw new Error(`redis-container: docker kill failed: ${result.error.message}`);
  // Like ChildProcess.kill on a process that has exited: signalling a stopped container is a no-op.
  if (result.status !== 0 && !/is not running/i.test(result.stderr)) {
    throw new Error(`redis-container: docker kill --signal ${signal} failed: ${result.stderr.trim()}`);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    if (liveContainers.size > 0) {
      spawnSync('docker', ['rm', '-f', ...liveContainers], { stdio: 'ignore', timeout: 10_000 });
    }
  });
}

/**
 * Starts redis-server in a container of {@link LOCAL_REDIS_IMAGE} with the process backend's settings,
 * reachable on 127.0.0.1 only.
 *
 * Networking: normally the container sits on Docker's default bridge and its 6379 is published on
 * 127.0.0.1:<port>, a fixed host port (options.port or a free one), so restart() keeps the same port.
 * When the engine has no bridge network (dockerd --bridge=none, a fallback of .ci/start-docker.sh),
 * or REDISPATCH_TEST_CONTAINER_NETWORK=host, it uses host networking and redis binds 127.0.0.1:<port>.
 *
 * Limits compared with the process backend:
 * - signal() is `docker kill --signal` (synchronous, needs the docker CLI). redis-server is PID 1 of its
 *   PID namespace, so the kernel drops signals whose default action it has not replaced: SIGKILL,
 *   SIGSTOP and SIGCONT work (sent from the host's namespace), SIGTERM/SIGINT shut redis down (the
 *   container exits), but e.g. SIGHUP or SIGUSR2 do nothing. The image has no shell or `kill` binary,
 *   so `container.exec(['kill', ...])` is not an option.
 * - restart() is `docker restart` (SIGKILL, then start): the same container, so files under its data
 *   dir (/data) survive as they do for the process backend. The published host port is fixed, so it
 *   should not change; if Docker ever remaps it, `port` and `url` report the new one.
 * - Without Ryuk, a container outlives a test process that is killed outright; an exit hook removes
 *   the ones still running on a normal exit, and all carry the label {@link REDIS_CONTAINER_LABEL}.
 */
export async function startRedisContainer(options: RedisServerOptions = {}): Promise<RedisHandle> {
  pinTestcontainersEnv();
  // A root devDependency, not a dependency of the package: the fallback needs the image that
  // .ci/build-redis-image.sh builds in the clone, so outside it only redis-server on PATH serves.
  const tc = await import('testcontainers').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(
      'redis-container: testcontainers is not installed (it is a development dependency of the redispatch clone)',
    );
  });
  const client = await tc.getContainerRuntimeClient();
  const image = redisImage();
  if (!(await client.image.exists(tc.ImageName.fromString(image)))) {
    throw new Error(
      `redis-container: image ${image} is not present locally and is never pulled; build it with .ci/build-redis-image.sh`,
    );
  }

  const hostNetwork =
    process.env.REDISPATCH_TEST_CONTAINER_NETWORK === 'host' ||
    !(await client.network
      .getById('bridge')
      .inspect()
      .then(
        () => true,
        () => false,
      ));
  const hostPort = options.port ?? (await freePort());
  const args = [
    ...(hostNetwork ? ['--port', String(hostPort), '--bind', '127.0.0.1'] : ['--port', String(REDIS_PORT)]),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    '/data',
    '--protected-mode',
    'no',
    // Same as the process backend: see docs/guarantees.md "Pub/sub output buffers".
    '--client-output-buffer-limit',
    'pubsub',
    '256mb',
    '64mb',
    '60',
    ...(options.args ?? []),
  ];

  // Publishes 6379 on 127.0.0.1 only: testcontainers' own port binding would listen on every interface.
  class LoopbackRedisContainer extends tc.GenericContainer {
    protected override async beforeContainerCreated(): Promise<void> {
      if (hostNetwork) return;
      this.hostConfig.PortBindings = {
        [`${REDIS_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }],
      };
    }
  }

  let logs = '';
  let container: GenericContainer = new LoopbackRedisContainer(image)
    .withPullPolicy(NEVER_PULL)
    .withCommand(args)
    .withLabels({ [REDIS_CONTAINER_LABEL]: 'redis' })
    .withWaitStrategy(noWait())
    .withLogConsumer((stream) => {
      stream.on('data', (chunk: Buffer | string) => {
        logs = (logs + chunk.toString()).slice(-4000);
      });
    });
  container = hostNetwork
    ? container.withNetworkMode('host')
    : container.withExposedPorts({ container: REDIS_PORT, host: hostPort });

  const started: StartedTestContainer = await container.start();
  installExitHook();
  liveContainers.add(started.getId());
  let port = hostNetwork ? hostPort : started.getMappedPort(REDIS_PORT);
  // The log stream ends when the container first stops: after a restart, `docker logs <id>` has the rest.
  const describe = () => `container ${started.getId().slice(0, 12)} (${image}) output:\n${logs}`;
  try {
    await waitForRedis(`redis://127.0.0.1:${port}`, 10_000, describe);
  } catch (error) {
    await started.stop({ remove: true, timeout: 0 }).catch(() => {});
    liveContainers.delete(started.getId());
    throw error;
  }

  let stopped = false;
  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    backend: 'container',
    signal: (signal) => {
      dockerKill(started.getId(), signal);
    },
    restart: async () => {
      await started.restart({ timeout: 0 });
      if (!hostNetwork) port = started.getMappedPort(REDIS_PORT);
      await waitForRedis(`redis://127.0.0.1:${port}`, 10_000, describe);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // A SIGSTOPped redis would otherwise sit out `docker stop`'s grace period; timeout 0 kills at once.
      await started.stop({ remove: true, timeout: 0 });
      liveContainers.delete(started.getId());
    },
  };
}
