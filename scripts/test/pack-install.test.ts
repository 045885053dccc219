import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The published form: `npm pack` of every workspace, installed with npm into an empty folder outside
 * the clone (third-party dependencies from the registry). Run after `npm run build`.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const INSTALL_TIMEOUT_MS = 240_000;

let dir: string;
let app: string;
let redis: RedisHandle;
const children: ChildProcess[] = [];

/** Runs the installed bin without npx: it must be the one npm linked, never a registry download. */
function redispatch(args: string[], env: Record<string, string> = {}) {
  return run(join(app, 'node_modules', '.bin', 'redispatch'), args, {
    cwd: app,
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-pack-'));
  const tarballs = join(dir, 'tarballs');
  app = join(dir, 'app');
  mkdirSync(tarballs);
  mkdirSync(app);
  // The published packages only, by name: `--workspace shared` (a path) would also select the test
  // harness nested in it (shared/testing, private), which is never packed.
  const workspaces = ['shared', 'worker', 'dispatcher'].flatMap((name) => [
    '--workspace',
    `@redispatch/${name}`,
  ]);
  const packed = await run('npm', ['pack', ...workspaces, '--json', '--pack-destination', tarballs], {
    cwd: root,
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = (JSON.parse(packed.stdout) as { filename: string }[]).map((entry) =>
    join(tarballs, entry.filename),
  );
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'pack-install-check', private: true, type: 'module' }),
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...files], {
    cwd: app,
    timeout: INSTALL_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  redis = await startRedis();
}, INSTALL_TIMEOUT_MS + 90_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed packages installed outside the clone', () => {
  it('install as @redispatch/* with only their runtime dependencies', () => {
    for (const name of ['shared', 'worker', 'dispatcher'])
      expect(existsSync(join(app, 'node_modules', '@redispatch', name, 'package.json')), name).toBe(true);
    // Development tooling stays out, testcontainers too (the harness's Docker fallback, clone only).
    for (const dev of ['typescript', 'vitest', 'testcontainers', 'kubernetes-models'])
      expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    // The test harness is a dev-only workspace: neither installed nor inside @redispatch/shared.
    expect(existsSync(join(app, 'node_modules', '@redispatch', 'testing'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', '@redispatch', 'shared', 'dist', 'testing'))).toBe(false);
  });

  it('give a working redispatch bin', async () => {
    expect((await redispatch(['--version'])).stdout.trim()).toBe('0.1.0');
    const npx = await run('npx', ['--no-install', 'redispatch', '--version'], { cwd: app, timeout: 30_000 });
    expect(npx.stdout.trim()).toBe('0.1.0');
    expect((await redispatch(['--help'])).stdout).toContain('Usage: redispatch');
  });

  it('give importable libraries, the embedded Redis launcher included, the test harness not', async () => {
    const probe = `
      const worker = await import('@redispatch/worker');
      const shared = await import('@redispatch/shared');
      const embedded = await import('@redispatch/shared/embedded');
      const dispatcher = await import('@redispatch/dispatcher');
      const harness = await import('@redispatch/shared/testing').then(() => 'shipped', (error) => error.code);
      console.log([typeof worker.Worker, typeof shared.OPTIONS, typeof embedded.startRedisProcess, Object.keys(dispatcher).length > 0, harness].join(' '));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], {
      cwd: app,
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe('function object function true ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('run `up` with its embedded Redis from the install (no test harness needed)', async () => {
    const up = spawn(
      join(app, 'node_modules', '.bin', 'redispatch'),
      ['up', '--dispatchers', '1', '--workers', '1', '--publish-rate', '0'],
      {
        cwd: app,
        // Empty = unset: up starts its own Redis.
        env: {
          ...process.env,
          REDISPATCH_REDIS_URL: '',
          REDISPATCH_METRICS_PORT: '-1',
          REDISPATCH_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(up);
    let output = '';
    up.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    up.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    await expect.poll(() => output, { timeout: 30_000 }).toMatch(/started an embedded Redis at redis:\/\//);
    await expect.poll(() => output, { timeout: 30_000 }).toMatch(/logs in \S+/);
    up.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('run a dispatcher and a worker from the install: published messages are handled and acked', async () => {
    writeFileSync(
      join(app, 'handler.mjs'),
      'export default async function handle(msg) { return undefined; }\n',
    );
    const env = {
      REDISPATCH_REDIS_URL: redis.url,
      REDISPATCH_PREFIX: `pack${process.pid}`,
      REDISPATCH_CHANNEL: `pack${process.pid}-in`,
      REDISPATCH_METRICS_PORT: '-1',
      REDISPATCH_LEASE_MS: '1000',
      REDISPATCH_LOG_LEVEL: 'warn',
    };
    const bin = join(app, 'node_modules', '.bin', 'redispatch');
    for (const args of [['dispatcher'], ['worker', '--handler', './handler.mjs']])
      children.push(spawn(bin, args, { cwd: app, env: { ...process.env, ...env }, stdio: 'ignore' }));
    const stats = async () => JSON.parse((await redispatch(['stats', '--json'], env)).stdout);
    await expect
      .poll(
        async () => {
          const now = await stats();
          return now.leader !== null && now.workers.length === 1;
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    await redispatch(['publish', '--count', '50'], env);
    await expect.poll(async () => (await stats()).totals.acked, { timeout: 20_000 }).toBe(50);
  });

  it('serve the console from the install: its page and the libraries it loads from node_modules', async () => {
    const env = {
      ...process.env,
      REDISPATCH_REDIS_URL: redis.url,
      REDISPATCH_PREFIX: `packc${process.pid}`,
      REDISPATCH_METRICS_PORT: '-1',
      REDISPATCH_CONSOLE_PORT: '0',
    };
    const bin = join(app, 'node_modules', '.bin', 'redispatch');
    const child = spawn(bin, ['console'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await expect.poll(() => /"port":(\d+)/.exec(output)?.[1], { timeout: 20_000 }).toBeDefined();
    const base = `http://127.0.0.1:${/"port":(\d+)/.exec(output)?.[1]}`;
    expect(await (await fetch(`${base}/`)).text()).toContain('/app.js');
    for (const path of [
      '/app.js',
      '/vendor/preact.mjs',
      '/vendor/hooks.mjs',
      '/vendor/htm.mjs',
      '/vendor/uPlot.esm.js',
    ])
      expect((await fetch(`${base}${path}`)).status, path).toBe(200);
    expect(await (await fetch(`${base}/api/console`)).json()).toMatchObject({
      mode: 'lists',
      readOnly: true,
    });
  });
});
