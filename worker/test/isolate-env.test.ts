// Issue 22 item 5: `--isolate` handler processes get only what a handler needs — no REDISPATCH_*
// setting, so no Redis URL or password — while the handler's own variables still reach them.
// Real processes: CLI dispatcher and worker, redis-server, the handler process the worker forks.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { spawnCli } from '../../dispatcher/test/helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../../dispatcher/test/helpers/in-process.js';

const HANDLER = fileURLToPath(new URL('./fixtures/isolate-handler.mjs', import.meta.url));

interface EnvRecord {
  kind: string;
  settings: string[];
  holdingUrl: string[];
  checkDir: boolean;
}

it('an isolated handler cannot read the Redis URL (no REDISPATCH_* setting); its own variables pass', async () => {
  const redis = await startRedisProcess();
  const admin = new Redis(redis.url);
  const dir = mkdtempSync(join(tmpdir(), 'isolate-env-'));
  const prefix = uniquePrefix('isolate-env');
  const env = {
    ...testEnv(redis.url, prefix),
    CHECK_DIR: dir,
    REDISPATCH_LOG_LEVEL: 'info',
    REDISPATCH_ISOLATE: 'true',
  };
  const dispatcher = spawnCli(['dispatcher'], env);
  const worker = spawnCli(['worker', '--handler', HANDLER], env);
  try {
    await worker.waitForLog(/worker registered/, 45_000).catch((error) => {
      throw new Error(`${error.message}\nworker: ${worker.output()}\ndispatcher: ${dispatcher.output()}`);
    });
    await expect
      .poll(async () => (await admin.pubsub('NUMSUB', env.REDISPATCH_CHANNEL))[1], { timeout: 10_000 })
      .toBe(1);
    await admin.publish(env.REDISPATCH_CHANNEL, `ENVSCAN:${redis.url}`);
    const records = () =>
      readdirSync(dir)
        .filter((file) => file.startsWith('fields-'))
        .flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n'))
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as EnvRecord)
        .filter((r) => r.kind === 'env');
    await expect.poll(() => records().length, { timeout: 20_000 }).toBe(1);
    const [seen] = records();
    expect(seen?.settings).toEqual([]);
    expect(seen?.holdingUrl).toEqual([]);
    expect(seen?.checkDir).toBe(true);
  } finally {
    worker.kill('SIGKILL');
    dispatcher.kill('SIGKILL');
    admin.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
