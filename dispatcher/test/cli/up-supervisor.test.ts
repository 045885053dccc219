import { createConnection } from '@redispatch/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliProcess, spawnCli } from '../helpers/cli-process.js';
import { embeddedRedisUrl, isAlive, upLogs, upTree } from './up-process.js';

const started: CliProcess[] = [];
const trees: number[][] = [];
afterAll(() => {
  // Only if a test failed half-way: nothing `up` started may outlive the file.
  for (const pid of trees.flat()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const up of started) up.kill('SIGKILL');
});

/** `redispatch up` with an embedded Redis, two dispatchers and one worker, no publisher. */
function startUp(extraArgs: string[] = [], env: Record<string, string> = {}): CliProcess {
  const up = spawnCli(['up', '--dispatchers', '2', '--workers', '1', '--publish-rate', '0', ...extraArgs], {
    // Empty = unset: up starts its own Redis.
    REDISPATCH_REDIS_URL: '',
    REDISPATCH_LEASE_MS: '1000',
    REDISPATCH_DRAIN_TIMEOUT_MS: '3000',
    ...env,
  });
  started.push(up);
  return up;
}

/** up, its role processes, its keeper and redis-server, once all of them run. */
async function runningTree(up: CliProcess): Promise<number[]> {
  const tree = await upTree(up, 3);
  trees.push(tree);
  return tree;
}

async function allGone(pids: number[]): Promise<void> {
  await expect.poll(() => pids.filter(isAlive), { timeout: 20_000, interval: 100 }).toEqual([]);
}

describe('redispatch up as a supervisor', () => {
  it('passes its flags to every child and drains them all on one Ctrl-C', async () => {
    const up = startUp(['--prefix', 'up-flags', '--channel', 'up-flags-in', '--concurrency', '3']);
    const tree = await runningTree(up);
    const redis = createConnection('command', {
      url: embeddedRedisUrl(up),
      tls: { insecure: false },
      commandTimeoutMs: 5_000,
      name: 'test',
    });
    await redis.connect();
    try {
      // The display reads the same deployment as the children.
      await up.waitForLog(/prefix up-flags {3}leader dispatcher-\d/, 20_000);
      await expect.poll(() => redis.zcard('{up-flags}:workers'), { timeout: 10_000 }).toBe(1);
      expect(await redis.hget('{up-flags}:leader', 'id')).toMatch(/^dispatcher-\d-/);
      expect(await redis.keys('{rd}:*')).toEqual([]);
      await expect
        .poll(async () => Number((await redis.pubsub('NUMSUB', 'up-flags-in'))[1]), { timeout: 10_000 })
        .toBe(2);
    } finally {
      redis.disconnect();
    }
    up.kill('SIGINT');
    expect((await up.exited()).code).toBe(0);
    await allGone(tree);
    const logs = upLogs(up);
    for (const name of ['dispatcher-1.log', 'dispatcher-2.log', 'worker-1.log']) {
      expect(logs[name]).toMatch(/"signal":"SIGTERM","msg":"shutting down"/);
      expect(logs[name]).not.toMatch(/second signal/);
    }
    expect(logs['worker-1.log']).toMatch(/"concurrency":3,"prefix":"up-flags".*"msg":"worker registered"/);
    expect(logs['worker-1.log']).toMatch(/"msg":"worker stopped"/);
  });

  it.each([
    ['SIGHUP (its terminal closed)', 'SIGHUP'],
    ['SIGKILL (nothing of it runs)', 'SIGKILL'],
  ] as const)('leaves nothing running when it gets %s', async (_name, signal) => {
    const up = startUp();
    const tree = await runningTree(up);
    up.kill(signal);
    await up.exited();
    await allGone(tree);
  });

  it('leaves nothing running when its output is closed (up | head)', async () => {
    const up = startUp();
    const tree = await runningTree(up);
    // The reader goes away: up's next redraw fails with EPIPE.
    up.child.stdout?.destroy();
    await up.exited();
    await allGone(tree);
  });

  it('keeps a dead child on screen, names no dead leader, and exits non-zero once a role is gone', async () => {
    const up = startUp();
    const tree = await runningTree(up);
    await up.waitForLog(/leader dispatcher-\d-\d+ /, 20_000);
    const leader = /leader (dispatcher-\d)-\d+ /.exec(up.output())?.[1] ?? '';
    const leaderPid = Number(new RegExp(`${leader} +pid (\\d+)`).exec(up.output())?.[1]);
    expect(tree).toContain(leaderPid);
    process.kill(leaderPid, 'SIGKILL');
    const exitedRow = new RegExp(`${leader} +pid ${leaderPid} +exited \\(signal SIGKILL\\): \\S`);
    await up.waitForLog(exitedRow, 10_000);
    // Every frame from the one that shows it dead on never names it as the leader.
    const frames = up.output().split('(Ctrl-C stops everything gracefully');
    const since = frames.findIndex((frame) => exitedRow.test(frame));
    for (const frame of frames.slice(since)) expect(frame).not.toMatch(new RegExp(`leader ${leader}-`));
    const worker = Number(/worker-1 +pid (\d+)/.exec(up.output())?.[1]);
    process.kill(worker, 'SIGKILL');
    const { code } = await up.exited();
    expect(code).toBe(1);
    expect(up.output()).toMatch(/redispatch: every worker exited \(last: worker-1\)/);
    await allGone(tree);
  });
});
