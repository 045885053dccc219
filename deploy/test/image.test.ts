import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createKeys, readStats, type Stats } from '@redispatch/shared';
import { freePort, REDIS_CONTAINER_LABEL, type RedisHandle, startRedisContainer } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CLI,
  DRAIN_TIMEOUT_MS,
  docker,
  dockerAvailable,
  dockerLogs,
  ensureImage,
  HANDLER_SLEEP_MS,
  httpStatus,
  IMAGE,
  inspect,
  run,
  STOP_GRACE_S,
  UID,
  waitFor,
} from './image-harness.js';

// The root Dockerfile, built and run for real: the image runs as a dispatcher and as a worker
// against a Redis container, hardened the way deploy/ runs it (read-only root, tmpfs /tmp, no
// capabilities, no-new-privileges, UID 10001), processes published messages, and drains on
// `docker stop`.
//
// Needs a Docker engine (.ci/start-docker.sh), the local Redis image (.ci/build-redis-image.sh) and
// the local Node base image (.ci/build-node-base-image.sh: no registry is reachable in CI, so
// node:20-bookworm-slim cannot be pulled). Without them the suite is skipped, loudly.
//
// The image is built with deploy/docker/build-image.sh (docker build --network=host, the base image,
// and the host's extra CAs for npm in the build stages only). It carries a label with a hash of the
// build context (the files the Dockerfile copies, as in the working tree, plus the base image id), and
// is reused when that hash matches: a second run costs no build. A changed tree rebuilds, on top of
// Docker's layer cache. The label is added by a one-line `FROM` build after the real one: with the
// legacy builder, `docker build --label` is part of every RUN step's cache key, so a label whose value
// changes with every edit would rebuild everything, npm install included.
//
// Networking: the dispatcher and worker containers use host networking and bind their metrics to
// 127.0.0.1, so they reach the Redis container (startRedisContainer: published on 127.0.0.1, or host
// networking when the engine has no bridge) at its 127.0.0.1 port, and the test addresses nothing but
// loopback.

describe.skipIf(!dockerAvailable)('the container image (root Dockerfile)', () => {
  const prefix = `img${randomBytes(4).toString('hex')}`;
  const containers: string[] = [];
  let redis: RedisHandle | undefined;
  let admin: Redis | undefined;
  let handlerDir: string | undefined;
  let dispatcher = { id: '', port: 0 };
  let worker = { id: '', port: 0 };
  let cliEnv: NodeJS.ProcessEnv = {};

  /** The host CLI (compiled dist) against the Redis container. */
  const cli = async (...args: string[]) => (await run('node', [CLI, ...args], cliEnv)).stdout;
  const stats = async (): Promise<Stats> => readStats(admin!, createKeys(prefix), prefix);
  const cliStats = async (): Promise<Stats> => JSON.parse(await cli('stats', '--json'));
  const logsOf = async (...ids: string[]) =>
    (await Promise.all(ids.map(async (id) => `--- ${id.slice(0, 12)} logs:\n${await dockerLogs(id)}`))).join(
      '\n',
    );

  /** `docker run -d` of the image, hardened as deploy/ runs it, on host networking bound to loopback. */
  async function runImage(role: string, metricsPort: number, args: string[], extra: string[] = []) {
    const env = {
      REDISPATCH_REDIS_URL: redis!.url,
      REDISPATCH_PREFIX: prefix,
      REDISPATCH_METRICS_HOST: '127.0.0.1',
      REDISPATCH_METRICS_PORT: String(metricsPort),
      REDISPATCH_DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
      REDISPATCH_LOG_LEVEL: 'info',
    };
    const id = (
      await docker([
        'run',
        '--detach',
        '--name',
        `redispatch-image-test-${prefix}-${role}`,
        '--label',
        `${REDIS_CONTAINER_LABEL}=image`,
        '--network',
        'host',
        '--read-only',
        '--tmpfs',
        '/tmp',
        '--cap-drop',
        'ALL',
        '--security-opt',
        'no-new-privileges',
        '--user',
        UID,
        ...Object.entries(env).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
        ...extra,
        IMAGE,
        ...args,
      ])
    ).trim();
    containers.push(id);
    return id;
  }

  beforeAll(async () => {
    console.log(`image test: ${await ensureImage()}`);

    redis = await startRedisContainer();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 3 });
    admin.on('error', () => {});
    cliEnv = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('REDISPATCH_')),
    );
    Object.assign(cliEnv, { REDISPATCH_REDIS_URL: redis.url, REDISPATCH_PREFIX: prefix });

    // The handler module is mounted read-only, as the dev overlay mounts its ConfigMap.
    handlerDir = mkdtempSync(join(tmpdir(), 'redispatch-image-handler-'));
    writeFileSync(
      join(handlerDir, 'handler.mjs'),
      `// Acks each message after ${HANDLER_SLEEP_MS} ms, long enough to be stopped with work in hand.\n` +
        `export default async () => new Promise((resolve) => setTimeout(resolve, ${HANDLER_SLEEP_MS}));\n`,
    );
    await chmod(handlerDir, 0o755);
    await chmod(join(handlerDir, 'handler.mjs'), 0o644);

    const [dispatcherPort, workerPort] = [await freePort(), await freePort()];
    dispatcher = { id: await runImage('dispatcher', dispatcherPort, ['dispatcher']), port: dispatcherPort };
    worker = {
      id: await runImage(
        'worker',
        workerPort,
        ['worker', '--handler', '/app/handlers/handler.mjs'],
        ['--volume', `${handlerDir}:/app/handlers:ro`],
      ),
      port: workerPort,
    };
    await waitFor(
      'a leader and one registered worker',
      async () => {
        const s = await stats();
        return s.leader && s.workers.length === 1 ? s : undefined;
      },
      30_000,
      () => logsOf(dispatcher.id, worker.id),
    );
  }, 600_000);

  afterAll(async () => {
    if (containers.length > 0) {
      spawnSync('docker', ['rm', '--force', ...containers], { stdio: 'ignore', timeout: 30_000 });
    }
    admin?.disconnect();
    await redis?.stop();
    if (handlerDir) rmSync(handlerDir, { recursive: true, force: true });
  }, 60_000);

  it('ships production dependencies and compiled JavaScript only, as UID 10001 under tini, with no CA', async () => {
    const image = JSON.parse(await docker(['image', 'inspect', IMAGE]))[0];
    expect(image.Config.User).toBe(`${UID}:${UID}`);
    expect(image.Config.Entrypoint).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      '/app/dispatcher/bin/redispatch.js',
    ]);
    expect(image.Config.Env.join('\n')).not.toMatch(/NODE_EXTRA_CA_CERTS|BUILD_EXTRA_CA|CERTIFICATE/);
    // The build stages' CA argument is in neither the runtime stage's history nor its layers' commands.
    const history = await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', IMAGE]);
    expect(history).not.toMatch(/BEGIN CERTIFICATE|BUILD_EXTRA_CA_PEM/);

    const probe = `
      const fs = require('node:fs');
      const exists = (p) => fs.existsSync(p);
      const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(dir + '/' + e.name) : [dir + '/' + e.name]);
      const dist = ['shared', 'worker', 'dispatcher'].flatMap((w) => walk('/app/' + w + '/dist'));
      console.log(JSON.stringify({
        dev: ['typescript', 'vitest', 'testcontainers', '@biomejs/biome', 'kubernetes-models']
          .filter((m) => exists('/app/node_modules/' + m)),
        prod: ['ioredis', 'pino', 'prom-client', 'zod', 'commander'].filter((m) => exists('/app/node_modules/' + m)),
        sources: ['shared', 'worker', 'dispatcher'].filter((w) => exists('/app/' + w + '/src')),
        tests: ['shared', 'worker', 'dispatcher'].filter((w) => exists('/app/' + w + '/test')),
        // The test harness: formerly shared/dist/testing, now its own dev-only workspace (shared/testing).
        testing: exists('/app/shared/dist/testing') || exists('/app/shared/testing/dist'),
        ts: dist.filter((f) => f.endsWith('.ts')).length,
        lua: dist.filter((f) => f.endsWith('.lua')).length,
        npm: exists('/usr/local/lib/node_modules/npm') || exists('/usr/local/bin/npm'),
        tini: exists('/usr/bin/tini'),
        handlers: fs.statSync('/app/handlers').isDirectory(),
        user: require('node:os').userInfo().username,
      }));`;
    const contents = JSON.parse(
      await docker([
        'run',
        '--rm',
        '--network',
        'none',
        '--read-only',
        '--entrypoint',
        'node',
        IMAGE,
        '-e',
        probe,
      ]),
    );
    expect(contents).toMatchObject({
      dev: [],
      prod: ['ioredis', 'pino', 'prom-client', 'zod', 'commander'],
      sources: [],
      tests: [],
      testing: false,
      ts: 0,
      npm: false,
      tini: true,
      handlers: true,
      user: 'redispatch',
    });
    expect(contents.lua).toBeGreaterThan(0);
  });

  it('runs as UID 10001 with a read-only root, writable /tmp, no capabilities and no-new-privileges', async () => {
    for (const id of [dispatcher.id, worker.id]) {
      const info = await inspect(id);
      expect(info.Config.User).toBe(UID);
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(info.HostConfig.CapDrop).toContain('ALL');
      expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
      expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toContain('/tmp');

      // What the kernel says about every process in the container's PID namespace: PID 1 (tini), its
      // child node (the service), and this probe itself. Read from inside, so no ps is needed anywhere.
      const script = `
        const fs = require('node:fs');
        const processes = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).flatMap((pid) => {
          try {
            const status = fs.readFileSync('/proc/' + pid + '/status', 'utf8');
            const field = (name) => status.match(new RegExp('^' + name + ':\\\\s*(.*)$', 'm'))[1].trim();
            return [{
              pid: Number(pid),
              cmdline: fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0').filter(Boolean),
              uid: field('Uid').split(/\\s+/), gid: field('Gid').split(/\\s+/),
              capEff: field('CapEff'), capPrm: field('CapPrm'), noNewPrivs: field('NoNewPrivs'),
            }];
          } catch { return []; } // exited meanwhile
        });
        const attempt = (path) => { try { fs.writeFileSync(path, 'x'); return 'written'; } catch (e) { return e.code; } };
        console.log(JSON.stringify({
          processes,
          app: attempt('/app/probe'), etc: attempt('/etc/probe'), root: attempt('/probe'), tmp: attempt('/tmp/probe'),
        }));`;
      const seen = JSON.parse(await docker(['exec', id, 'node', '-e', script]));
      const processes: { pid: number; cmdline: string[]; [field: string]: unknown }[] = seen.processes;
      expect(processes.find((p) => p.pid === 1)?.cmdline.slice(0, 3)).toEqual([
        '/usr/bin/tini',
        '--',
        'node',
      ]);
      expect(
        processes.some((p) => p.pid !== 1 && p.cmdline.includes('/app/dispatcher/bin/redispatch.js')),
        JSON.stringify(processes),
      ).toBe(true);
      for (const p of processes) {
        expect(p, JSON.stringify(p)).toMatchObject({
          uid: [UID, UID, UID, UID],
          gid: [UID, UID, UID, UID],
          capEff: '0000000000000000',
          capPrm: '0000000000000000',
          noNewPrivs: '1',
        });
      }
      expect({ app: seen.app, etc: seen.etc, root: seen.root }).toEqual({
        app: 'EROFS',
        etc: 'EROFS',
        root: 'EROFS',
      });
      expect(seen.tmp).toBe('written');
    }
  });

  it('answers /readyz and /healthz with 200 on the metrics ports, and serves /metrics', async () => {
    for (const { port } of [dispatcher, worker]) {
      expect(await httpStatus(port, '/readyz')).toBe(200);
      expect(await httpStatus(port, '/healthz')).toBe(200);
    }
    const metrics = await fetch(`http://127.0.0.1:${dispatcher.port}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^redispatch_leader\{[^}]*role="dispatcher"[^}]*\} 1$/m);
  });

  const firstBatch = 20;
  const secondBatch = 8;

  it('handles every published message: all acked, none redelivered', async () => {
    await cli('publish', '--count', String(firstBatch), '--json');
    await waitFor(
      `${firstBatch} acks`,
      async () => ((await stats()).totals.acked >= firstBatch ? true : undefined),
      30_000,
      async () => `${JSON.stringify(await stats())}\n${await logsOf(dispatcher.id, worker.id)}`,
    );
    const s = await cliStats();
    expect(s.totals).toMatchObject({ accepted: firstBatch, acked: firstBatch, nacked: 0, redelivered: 0 });
    expect(s.inflight).toBe(0);
  });

  it('docker stop: the worker finishes its in-flight messages, acks them and exits 0 in the grace period', async () => {
    await cli('publish', '--count', String(secondBatch), '--json');
    // All of them claimed and running (each handler sleeps HANDLER_SLEEP_MS), none acked yet.
    const before = await waitFor(
      `${secondBatch} messages in flight`,
      async () => {
        const s = await stats();
        return s.inflight === secondBatch ? s : undefined;
      },
      10_000,
      async () => JSON.stringify(await stats()),
    );
    expect(before.totals.acked).toBe(firstBatch);

    const started = performance.now();
    await docker(['stop', '--time', String(STOP_GRACE_S), worker.id], (STOP_GRACE_S + 30) * 1000);
    const stopSeconds = (performance.now() - started) / 1000;
    const state = (await inspect(worker.id)).State;
    const logs = await dockerLogs(worker.id);
    expect(state.ExitCode, logs).toBe(0);
    expect(state.OOMKilled).toBe(false);
    expect(stopSeconds, logs).toBeLessThan(STOP_GRACE_S);

    const lines = logs
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    expect(lines.find((l) => l.msg === 'shutting down')?.signal, logs).toBe('SIGTERM');
    expect(lines.find((l) => l.msg === 'worker stopped')?.unfinished, logs).toBe(0);

    // Acked by the draining worker itself: nothing left in flight, nothing redelivered (also not later,
    // once the leader has seen the worker leave).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = await cliStats();
    expect(after.totals).toMatchObject({
      accepted: firstBatch + secondBatch,
      acked: firstBatch + secondBatch,
      nacked: 0,
      redelivered: 0,
      deadLettered: 0,
    });
    expect(after.inflight).toBe(0);
    expect(after.backlog).toBe(0);
  });

  it('docker stop: the dispatcher shuts down gracefully (steps down, exits 0)', async () => {
    await docker(['stop', '--time', String(STOP_GRACE_S), dispatcher.id], (STOP_GRACE_S + 30) * 1000);
    const state = (await inspect(dispatcher.id)).State;
    const logs = await dockerLogs(dispatcher.id);
    expect(state.ExitCode, logs).toBe(0);
    const lines = logs
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    expect(lines.find((l) => l.msg === 'shutting down')?.signal, logs).toBe('SIGTERM');
    expect(lines.find((l) => l.msg === 'stepped down')?.reason, logs).toBe('shutdown');
    expect(
      lines.filter((l) => l.level >= 50),
      logs,
    ).toEqual([]);
    expect((await stats()).leader).toBeNull();
  });
});
