import { join } from 'node:path';
import { createKeys } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { checkRun } from '../helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli } from '../helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

const fx = useProcessFixture();

function start(args: string[], env: Record<string, string>): CliProcess {
  return fx.spawn(args, env);
}

function checkDir(): string {
  return fx.tempDir('check');
}

async function leaderPid(keys: ReturnType<typeof createKeys>): Promise<number | undefined> {
  const pid = await fx.admin.hget(keys.leader, 'pid');
  return pid ? Number(pid) : undefined;
}

describe('the redispatch CLI as real processes', () => {
  it('hands leadership over on SIGTERM without waiting for the lease; on SIGKILL only once the lease ran out', async () => {
    const prefix = uniquePrefix('handover');
    const keys = createKeys(prefix);
    // A lease long enough that "before it expires" and "after it expired" stay apart on a busy box
    // (the bench measures the handover times themselves).
    const leaseMs = 6_000;
    const env = testEnv(fx.redis.url, prefix, {
      REDISPATCH_LOG_LEVEL: 'info',
      REDISPATCH_LEASE_MS: String(leaseMs),
    });
    const dispatchers = [1, 2, 3].map(() => start(['dispatcher'], env));
    await expect.poll(() => leaderPid(keys), { timeout: 15_000 }).toBeDefined();
    const first = await leaderPid(keys);
    const firstEpoch = Number(await fx.admin.hget(keys.leader, 'epoch'));
    const leader = dispatchers.find((d) => d.pid === first);
    expect(leader).toBeDefined();

    const termAt = performance.now();
    leader?.kill('SIGTERM');
    expect((await leader?.exited())?.code).toBe(0);
    await expect
      .poll(async () => Number(await fx.admin.hget(keys.leader, 'epoch')), { timeout: 20_000, interval: 20 })
      .toBeGreaterThan(firstEpoch);
    const termHandover = performance.now() - termAt;
    // The resigning leader releases the lease and tells standbys: a standby leads before the lease
    // (renewed every lease/3, so valid at least 2/3 of it past the SIGTERM) could have expired.
    expect(termHandover).toBeLessThan(leaseMs / 2);

    const second = await leaderPid(keys);
    const secondEpoch = Number(await fx.admin.hget(keys.leader, 'epoch'));
    const killAt = performance.now();
    dispatchers.find((d) => d.pid === second)?.kill('SIGKILL');
    await expect
      .poll(async () => Number(await fx.admin.hget(keys.leader, 'epoch')), { timeout: 30_000, interval: 20 })
      .toBeGreaterThan(secondEpoch);
    const killHandover = performance.now() - killAt;
    // Nobody released it: no standby may lead while the dead leader's lease is still valid, which it
    // is for at least 2/3 of a lease after the kill (less drift); a busy box only makes this longer.
    expect(killHandover).toBeGreaterThanOrEqual(leaseMs / 2);
    expect(termHandover).toBeLessThan(killHandover);
    console.info(
      `handover: SIGTERM ${termHandover.toFixed(0)} ms, SIGKILL ${killHandover.toFixed(0)} ms (lease ${leaseMs} ms)`,
    );
  });

  it('redelivers everything a SIGKILLed worker held: every message handled, duplicates counted', async () => {
    const prefix = uniquePrefix('wkill');
    const env = { ...testEnv(fx.redis.url, prefix), CHECK_DIR: checkDir(), CHECK_DELAY_MS: '5' };
    start(['dispatcher'], env);
    const victim = start(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '8'], env);
    start(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '8'], env);
    await victim.waitForLog(/worker registered/);
    await expect.poll(async () => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const count = 2_000;
    const publish = runCli(['publish', '--count', String(count), '--rate', '2000', '--run-id', 'wk'], env);
    await new Promise((resolve) => setTimeout(resolve, 400));
    victim.kill('SIGKILL');
    expect((await publish).code).toBe(0);
    try {
      await expect.poll(() => checkRun(env.CHECK_DIR, 'wk', count).lost, { timeout: 20_000 }).toBe(0);
    } catch (error) {
      const stats = await runCli(['stats'], env);
      throw new Error(`${(error as Error).message}\n${stats.output}`);
    }
    const result = checkRun(env.CHECK_DIR, 'wk', count);
    console.info(`worker SIGKILL: ${count} published, lost ${result.lost}, duplicates ${result.duplicates}`);
    // At most what the victim held (concurrency 8) can be handled twice.
    expect(result.duplicates).toBeLessThanOrEqual(8);
  });

  it('prints one clear line for a bad setting and for a bad handler, and exits non-zero', async () => {
    const env = testEnv(fx.redis.url, uniquePrefix('bad'));
    const badConfig = await runCli(['dispatcher'], { ...env, REDISPATCH_ACK_TIMEOUT_MS: 'soon' });
    expect(badConfig.code).toBe(2);
    expect(badConfig.lines).toEqual([
      'redispatch: REDISPATCH_ACK_TIMEOUT_MS (--ack-timeout-ms) expected a whole number (got "soon")',
    ]);

    const missing = await runCli(['worker', '--handler', './does-not-exist.mjs'], env);
    expect(missing.code).toBe(1);
    expect(missing.lines).toHaveLength(1);
    expect(missing.lines[0]).toMatch(
      /^redispatch: REDISPATCH_HANDLER \(--handler\): cannot load "\.\/does-not-exist\.mjs": /,
    );

    const noDefault = await runCli(
      ['worker', '--handler', join(import.meta.dirname, '../fixtures/bad-export.mjs')],
      env,
    );
    expect(noDefault.lines).toHaveLength(1);
    expect(noDefault.lines[0]).toMatch(/must have a default export that is a function/);

    const unreachable = await runCli(['stats'], {
      ...env,
      REDISPATCH_REDIS_URL: 'redis://:hunter2@127.0.0.1:1',
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.lines).toHaveLength(1);
    expect(unreachable.lines[0]).toMatch(
      /^redispatch: REDISPATCH_REDIS_URL: cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
    );
    expect(unreachable.output).not.toContain('hunter2');
  });

  it('reports stats as JSON with the contract fields, and lists, replays and purges dead letters', async () => {
    const prefix = uniquePrefix('dlqcli');
    const keys = createKeys(prefix);
    const dir = checkDir();
    const env = {
      ...testEnv(fx.redis.url, prefix, { REDISPATCH_MAX_ATTEMPTS: '1', REDISPATCH_MAX_PAYLOAD_BYTES: '20' }),
      CHECK_DIR: dir,
    };
    start(['dispatcher'], env);
    const worker = start(['worker', '--handler', CHECKER_HANDLER], env);
    await worker.waitForLog(/worker registered/);
    await expect.poll(async () => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 }).toBe(1);
    // Oversize: dead-lettered by the leader.
    await runCli(['publish', '--count', '3', '--size', '40', '--run-id', 'big'], env);
    await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 5_000 }).toBe(3);

    const stats = await runCli(['stats', '--json'], env);
    const json = JSON.parse(stats.output) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(
      expect.arrayContaining([
        'mode',
        'leader',
        'workers',
        'inflight',
        'delayed',
        'backlog',
        'deadLetters',
        'totals',
      ]),
    );
    expect(json.mode).toBe('lists');
    expect(json.deadLetters).toBe(3);
    expect(json.leader).toMatchObject({
      id: expect.any(String),
      host: expect.any(String),
      pid: expect.any(Number),
      epoch: expect.any(Number),
    });
    expect((json.workers as { id: string; queued: number; inflight: number }[])[0]).toMatchObject({
      queued: 0,
      inflight: 0,
    });
    expect(json.totals).toMatchObject({ accepted: 3, acked: 0, redelivered: 0, deadLettered: 3 });

    const list = await runCli(['dlq', 'list', '--limit', '2'], env);
    expect(list.lines.filter((l) => l.includes('reason="oversize'))).toHaveLength(2);
    const first = list.lines[0]?.split(' ')[0] ?? '';

    // Raise the limit so a replayed message fits, and replay one by id, then the rest.
    const roomy = { ...env, REDISPATCH_MAX_PAYLOAD_BYTES: '1000' };
    const replayOne = await runCli(['dlq', 'replay', first], roomy);
    expect(replayOne.lines).toEqual(['replayed 1 dead letter(s)']);
    await expect.poll(() => checkRun(dir, 'big', 3).handled, { timeout: 10_000 }).toBe(1);
    const replayAll = await runCli(['dlq', 'replay', '--all'], roomy);
    expect(replayAll.lines).toEqual(['replayed 2 dead letter(s)']);
    await expect.poll(() => checkRun(dir, 'big', 3).lost, { timeout: 10_000 }).toBe(0);

    await runCli(['publish', '--count', '2', '--size', '40', '--run-id', 'again'], env);
    await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 5_000 }).toBe(2);
    const purge = await runCli(['dlq', 'purge', '--yes'], env);
    expect(purge.lines).toEqual(['purged 2 dead letter(s)']);
    expect(await fx.admin.zcard(keys.dlq)).toBe(0);
    expect(await fx.admin.hlen(keys.body)).toBe(0);
  });
});
