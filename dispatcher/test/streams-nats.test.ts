import { performance } from 'node:perf_hooks';
import { createKeys, readStats } from '@redispatch/shared';
import { describe, expect, it, vi } from 'vitest';
import { checkRun, missingRanges } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli } from './helpers/cli-process.js';
import { leadershipTimeline } from './helpers/fault-cluster.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';
import {
  describeTakeovers,
  failoverDuplicateBound,
  takeoversOf,
  unmatchedWithReplay,
} from './helpers/takeovers.js';

const fx = useProcessFixture({ nats: { jetstream: true } });

// Streams mode (partition streams on one Redis) fed by NATS instead of Redis pub/sub: NATS core
// (every dispatcher consumes, standbys buffer and replay) and JetStream (only the leader consumes a
// durable consumer and acks after the write; what it had not acked is redelivered to the next leader).
describe.each(['nats', 'jetstream'] as const)('streams mode with %s ingress', (ingress) => {
  it('handles every message across leader SIGKILLs', async () => {
    const prefix = uniquePrefix(`streams-${ingress}`);
    const keys = createKeys(prefix);
    const dir = fx.tempDir(`streams-${ingress}`);
    const env = {
      ...testEnv(fx.redis.url, prefix),
      CHECK_DIR: dir,
      REDISPATCH_MODE: 'streams',
      REDISPATCH_PARTITIONS: '3',
      REDISPATCH_INGRESS: ingress,
      REDISPATCH_NATS_URL: fx.nats.url,
      REDISPATCH_NATS_SUBJECT: `${prefix}.in`,
      REDISPATCH_NATS_STREAM: `S-${prefix}`,
    };
    const dispatchers = new Map<number, CliProcess>();
    const everyDispatcher: CliProcess[] = [];
    const startDispatcher = () => {
      const proc = fx.spawn(['dispatcher'], env);
      dispatchers.set(proc.pid, proc);
      everyDispatcher.push(proc);
      return proc;
    };
    const first = [0, 1, 2].map(() => startDispatcher());
    for (let i = 0; i < 2; i++) {
      const worker = fx.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env);
      await worker.waitForLog(/worker registered/);
    }
    await Promise.all(first.map((d) => d.waitForLog(/"msg":"standby"/)));
    // The leader is the process the record names and that logged its election for that epoch.
    const currentLeader = async () => {
      const stats = await readStats(fx.admin, keys, prefix);
      const proc = stats.leader ? dispatchers.get(stats.leader.pid) : undefined;
      const elected = new RegExp(`"epoch":${stats.leader?.epoch},[^\\n]*"msg":"elected leader"`);
      return proc && elected.test(proc.output()) ? { proc, epoch: stats.leader?.epoch ?? 0 } : undefined;
    };
    const leader = () =>
      vi.waitFor(
        async () => {
          const found = await currentLeader();
          if (!found) throw new Error('no dispatcher has logged its election for the current epoch');
          return found;
        },
        { timeout: 15_000, interval: 25 },
      );
    await leader();

    const count = 8_000;
    const publish = runCli(
      ['publish', '--count', String(count), '--rate', '1000', '--run-id', 'sn'],
      env,
      120_000,
    );
    const kills = 2;
    for (let k = 0; k < kills; k++) {
      // Killed while messages flow: some handled before, the rest published after.
      await expect
        .poll(() => checkRun(dir, 'sn', count).handled, { timeout: 20_000, interval: 50 })
        .toBeGreaterThan(((k + 1) * count) / (kills + 2));
      const victim = await leader();
      victim.proc.kill('SIGKILL');
      dispatchers.delete(victim.proc.pid);
      await startDispatcher().waitForLog(/"msg":"standby"/);
      await expect
        .poll(async () => (await currentLeader())?.epoch ?? 0, { timeout: 15_000, interval: 25 })
        .toBeGreaterThan(victim.epoch);
    }
    const published = await publish;
    expect(published.code).toBe(0);
    const startedWaiting = performance.now();
    try {
      await expect.poll(() => checkRun(dir, 'sn', count).lost, { timeout: 30_000, interval: 250 }).toBe(0);
    } catch (error) {
      const stats = await readStats(fx.admin, keys, prefix);
      throw new Error(
        `${(error as Error).message}: missing ${missingRanges(dir, 'sn', count)}; stats ${JSON.stringify(stats)}\n` +
          leadershipTimeline(everyDispatcher, String),
      );
    }
    const result = checkRun(dir, 'sn', count);
    const takeovers = takeoversOf(everyDispatcher);
    const detail = describeTakeovers(takeovers);
    console.info(
      `streams + ${ingress}: ${count} at 1000/s, ${kills} leader kills: lost ${result.lost}, duplicates ${result.duplicates}, ` +
        `drained ${Math.round(performance.now() - startedWaiting)} ms after the publisher exited; ${detail}`,
    );
    expect(result.lost).toBe(0);
    expect(takeovers.length, detail).toBeGreaterThanOrEqual(kills + 1);
    if (ingress === 'jetstream') {
      // Written but not yet acked when the leader died: at most one batch (REDISPATCH_BATCH_SIZE) per kill.
      expect(result.duplicates).toBeLessThanOrEqual(kills * 512);
    } else {
      // Unkeyed messages: each batch goes to one partition in one call with its marker (no split batch).
      expect(unmatchedWithReplay(takeovers), detail).toEqual([]);
      expect(result.duplicates, detail).toBeLessThanOrEqual(failoverDuplicateBound(takeovers));
    }
  }, 150_000);
});
