import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LOCAL_REDIS_IMAGE } from '@redispatch/testing';
import { REPO_DIR } from './helpers.js';

// What the container image tests need: the image (built once per build-context hash), docker and
// process helpers, and the check that an engine and the base images are here (image.test.ts says why).

export const IMAGE = process.env.REDISPATCH_TEST_IMAGE || 'redispatch:test';
export const BASE_IMAGE = process.env.REDISPATCH_BASE_IMAGE || 'redispatch/node-base:20';
export const REDIS_IMAGE = process.env.REDISPATCH_TEST_REDIS_IMAGE || LOCAL_REDIS_IMAGE;
export const CONTEXT_HASH_LABEL = 'org.redispatch.test.context-hash';
export const BUILD_SCRIPT = join(REPO_DIR, 'deploy/docker/build-image.sh');
export const CLI = join(REPO_DIR, 'dispatcher/bin/redispatch.js');
/** Build context: what the Dockerfile COPYs (.dockerignore drops the test directories, node_modules, dist). */
export const CONTEXT_PATHS = [
  'Dockerfile',
  '.dockerignore',
  'package.json',
  'package-lock.json',
  '.npmrc',
  'tsconfig.base.json',
  'tsconfig.json',
  'scripts',
  'shared',
  'worker',
  'dispatcher',
];
export const UID = '10001';
/** Each handler run sleeps this long: the worker is stopped while it holds such work. */
export const HANDLER_SLEEP_MS = 1_500;
export const STOP_GRACE_S = 20;
/** Below the stop grace period: the worker must finish its in-flight work before Docker's SIGKILL. */
export const DRAIN_TIMEOUT_MS = 15_000;

export function dockerOk(args: string[]): boolean {
  return spawnSync('docker', args, { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

export const engineUp = dockerOk(['info']);
export const missing = engineUp
  ? [BASE_IMAGE, REDIS_IMAGE].filter((i) => !dockerOk(['image', 'inspect', i]))
  : [];
export const dockerAvailable = engineUp && missing.length === 0;
if (!dockerAvailable) {
  const why = engineUp
    ? `image(s) ${missing.join(', ')} missing (run .ci/build-node-base-image.sh and .ci/build-redis-image.sh)`
    : 'no engine answers `docker info` (run .ci/start-docker.sh)';
  // CI (.ci/run) provides Docker and says so: there a missing engine or image fails the run, never skips.
  if (process.env.REDISPATCH_REQUIRE_DOCKER === '1')
    throw new Error(`REDISPATCH_REQUIRE_DOCKER=1 but the image tests cannot run: ${why}`);
  console.warn(
    [
      '',
      '*************************************************************************',
      '*** Docker unavailable: container IMAGE tests (deploy/test/image.test.ts) SKIPPED ***',
      `*** ${why}`,
      '*************************************************************************',
      '',
    ].join('\n'),
  );
}

export interface Output {
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.slice(0, 3).join(' ')} … failed: ${error.message}\n${stderr}`));
        } else resolve({ stdout, stderr });
      },
    );
  });
}

export async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  return (await run('docker', args, undefined, timeoutMs)).stdout;
}

export async function dockerLogs(id: string): Promise<string> {
  const { stdout, stderr } = await run('docker', ['logs', id]);
  return stdout + stderr;
}

// biome-ignore lint/suspicious/noExplicitAny: `docker inspect` output, asserted on shape.
export async function inspect(id: string): Promise<any> {
  return JSON.parse(await docker(['inspect', id]))[0];
}

export function imageField(format: string): string | undefined {
  const result = spawnSync('docker', ['image', 'inspect', '-f', format, IMAGE], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/**
 * sha256 over the build context as it is in the working tree (tracked and untracked, unignored files
 * under CONTEXT_PATHS, without the test directories .dockerignore drops) and the base image id.
 * undefined without git: the image is then always rebuilt (Docker's layer cache still applies).
 */
export function contextHash(baseImageId: string): string | undefined {
  const listed = spawnSync(
    'git',
    ['-C', REPO_DIR, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...CONTEXT_PATHS],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (listed.status !== 0) return undefined;
  const files = [...new Set(listed.stdout.split('\0'))]
    .filter((file) => file !== '' && !/^[^/]+\/test\//.test(file))
    .sort();
  const hash = createHash('sha256').update(`base ${baseImageId}\n`);
  for (const file of files) {
    let content: Buffer;
    try {
      content = readFileSync(join(REPO_DIR, file));
    } catch {
      continue; // tracked but deleted in the working tree
    }
    hash.update(`${file}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex');
}

/** Builds IMAGE unless it carries the current context hash; resolves with what happened. */
export async function ensureImage(): Promise<string> {
  const baseId = spawnSync('docker', ['image', 'inspect', '-f', '{{.Id}}', BASE_IMAGE], { encoding: 'utf8' });
  const hash = contextHash(baseId.stdout.trim());
  const previousId = imageField('{{.Id}}');
  if (hash && previousId && imageField(`{{index .Config.Labels "${CONTEXT_HASH_LABEL}"}}`) === hash) {
    return `reused ${IMAGE} (context ${hash.slice(0, 12)})`;
  }
  const logPath = join(tmpdir(), 'redispatch-image-build.log');
  const log = createWriteStream(logPath);
  let tail = '';
  const started = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, '-t', IMAGE], {
      cwd: REPO_DIR,
      env: { ...process.env, REDISPATCH_BASE_IMAGE: BASE_IMAGE },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      log.write(chunk);
      tail = (tail + chunk.toString()).slice(-6000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('close', resolve);
  });
  await new Promise((resolve) => log.end(resolve));
  if (code !== 0) throw new Error(`docker build failed (exit ${code}; full log: ${logPath}):\n${tail}`);
  if (hash) {
    const labelled = spawnSync(
      'docker',
      ['build', '--quiet', '--label', `${CONTEXT_HASH_LABEL}=${hash}`, '--tag', IMAGE, '-'],
      { input: `FROM ${IMAGE}\n`, encoding: 'utf8', timeout: 60_000 },
    );
    if (labelled.status !== 0) throw new Error(`labelling ${IMAGE} failed: ${labelled.stderr}`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  // The image this replaces would otherwise pile up as <none>: remove it if nothing uses it.
  if (previousId && previousId !== imageField('{{.Id}}')) {
    spawnSync('docker', ['image', 'rm', previousId], { stdio: 'ignore' });
  }
  return `built ${IMAGE} in ${seconds} s (context ${hash?.slice(0, 12) ?? 'unhashed'}; log: ${logPath})`;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = explain ? await explain().catch((error) => String(error)) : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}\n${detail}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function httpStatus(port: number, path: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  await response.arrayBuffer();
  return response.status;
}
