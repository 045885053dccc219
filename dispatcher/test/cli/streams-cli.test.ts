import { fileURLToPath } from 'node:url';
import { calculateSlot, createKeys, loadPartitions, type Stats } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { checkRun, killedWorkerDuplicates } from '../helpers/checker.js';
import { CHECKER_HANDLER, runCli } from '../helpers/cli-process.js';
import { type TestEnv, testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { diagnoseStreams } from '../helpers/streams-diagnosis.js';

// Streams mode through the CLI, as real processes on a real 3-master Redis Cluster.
const fx = useProcessFixture({ cluster: { masters: 3 } });
const REFUSING_HANDLER = fileURLToPath(new URL('../fixtures/refusing-handler.mjs', import.meta.url));

function streamsEnv(prefix: string, extra: Record<string, string> = {}): TestEnv {
  const first = fx.cluster.nodes[0];
  return {
    ...testEnv(`redis://${first?.host}:${first?.port}`, prefix),
    REDISPATCH_MODE: 'streams',
    REDISPATCH_CLUSTER_NODES: fx.cluster.seeds,
    ...extra,
  };
}

async function statsJson(env: Record<string, string>): Promise<Stats> {
  const result = await runCli(['stats', '--json'], env);
  expect(result.code).toBe(0);
  return JSON.parse(result.output) as Stats;
}

describe('streams mode end to end through the CLI', () => {
  it('3 dispatchers, 3 workers, 20,000 messages, one worker SIGKILLed mid-run: zero lost', async () => {
    const prefix = uniquePrefix('se2e');
    const dir = fx.tempDir('se2e');
    const env = { ...streamsEnv(prefix), CHECK_DIR: dir };
    const dispatchers = [0, 1, 2].map(() => fx.spawn(['dispatcher'], env));
    const workers = [0, 1, 2].map(() =>
      fx.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '32'], env),
    );
    await Promise.all(workers.map((w) => w.waitForLog(/worker registered/)));
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(3);
    await expect
      .poll(async () => (await statsJson(env)).leader?.epoch ?? 0, { timeout: 15_000 })
      .toBeGreaterThan(0);

    const count = 20_000;
    const started = performance.now();
    const publish = runCli(
      ['publish', '--count', String(count), '--rate', '8000', '--run-id', 'se2e'],
      env,
      60_000,
    );
    await expect
      .poll(() => checkRun(dir, 'se2e', count).handled, { timeout: 20_000, interval: 50 })
      .toBeGreaterThan(count / 3);
    workers[0]?.kill('SIGKILL');
    expect((await publish).code).toBe(0);
    await expect.poll(() => checkRun(dir, 'se2e', count).lost, { timeout: 30_000, interval: 200 }).toBe(0);
    const seconds = (performance.now() - started) / 1000;
    const result = checkRun(dir, 'se2e', count);
    await expect
      .poll(
        async () => {
          const s = await statsJson(env);
          return s.inflight + s.backlog + s.delayed + s.deadLetters;
        },
        { timeout: 15_000 },
      )
      .toBe(0);
    const stats = await statsJson(env);
    console.info(
      `streams e2e: ${count} messages, lost ${result.lost}, duplicates ${result.duplicates}, ${seconds.toFixed(1)} s, ` +
        `reclaimed ${stats.totals.redelivered}, accepted ${stats.totals.accepted}, failover-replayed ${stats.totals.failoverReplayed}`,
    );
    expect(result.lost).toBe(0);
    // Accepted more than once only through a failover replay (a loaded box can cost a leader its
    // 1 s lease here), and every replay is counted.
    expect(stats.totals.accepted).toBeGreaterThanOrEqual(count);
    expect(stats.totals.accepted - count).toBeLessThanOrEqual(stats.totals.failoverReplayed);
    // Duplicates come only from the killed worker's unacknowledged tail (its running handlers and the
    // acks not yet written: how many depends on how slow its last flushes were, so it is located, not
    // counted against a timing-dependent number) and from what a failover replay re-accepted.
    const killed = killedWorkerDuplicates(dir, 'se2e', workers[0]?.pid);
    expect(killed.killed + killed.others).toBe(result.duplicates);
    expect(killed.others).toBeLessThanOrEqual(stats.totals.failoverReplayed);
    // Every duplicated message of the killed worker is among its newest records: an ack lost earlier
    // in its run (not only the tail it never flushed) would sit further back.
    expect(killed.fromEnd).toBeLessThanOrEqual(killed.killed + 64);
    expect(stats.mode).toBe('streams');
    expect(stats.partitions).toHaveLength(6);
    expect(new Set(stats.partitions?.map((p) => p.node)).size).toBe(3);
    // Values, not just fields: a leader among the dispatchers, both surviving workers, every message acked.
    expect(dispatchers.map((d) => d.pid)).toContain(stats.leader?.pid);
    expect(stats.leader?.epoch).toBeGreaterThan(0);
    expect(stats.workers.length).toBeGreaterThanOrEqual(2);
    expect(stats.totals.acked).toBeGreaterThanOrEqual(count);
    expect([stats.inflight, stats.delayed, stats.backlog, stats.deadLetters]).toEqual([0, 0, 0, 0]);
  });

  it('survives moving a partition slot to another master under load: nothing lost, no process exits', async () => {
    const prefix = uniquePrefix('smove');
    const dir = fx.tempDir('smove');
    const env = { ...streamsEnv(prefix), CHECK_DIR: dir };
    const dispatchers = [0, 1].map(() => fx.spawn(['dispatcher'], env));
    const workers = [0, 1].map(() => fx.spawn(['worker', '--handler', CHECKER_HANDLER], env));
    await Promise.all(workers.map((w) => w.waitForLog(/worker registered/)));
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(2);
    await expect
      .poll(async () => (await statsJson(env)).leader?.epoch ?? 0, { timeout: 15_000 })
      .toBeGreaterThan(0);
    const partitions = await loadPartitions(fx.clusterAdmin, createKeys(prefix), prefix, 6);
    const count = 6_000;
    const publish = runCli(
      ['publish', '--count', String(count), '--rate', '1500', '--run-id', 'smove'],
      env,
      60_000,
    );
    await expect
      .poll(() => checkRun(dir, 'smove', count).handled, { timeout: 10_000 })
      .toBeGreaterThan(1_000);
    // Move two partitions' slots (one after the other) to the next master, with MIGRATE, mid-stream.
    const masters = await fx.cluster.masters();
    let moved = 0;
    const movedTo = new Map<number, string>();
    for (const p of partitions.slice(0, 2)) {
      const slot = calculateSlot(p.stream);
      const owner = await fx.cluster.ownerOf(slot);
      const index = masters.findIndex((m) => m.node.port === owner.port);
      const target = masters[(index + 1) % masters.length]?.node;
      if (!target) throw new Error('no target master');
      moved += await fx.cluster.migrateSlot(slot, target);
      expect((await fx.cluster.ownerOf(slot)).port).toBe(target.port);
      movedTo.set(p.index, `${target.host}:${target.port}`);
    }
    expect(moved).toBeGreaterThan(0);
    expect((await publish).code).toBe(0);
    try {
      await expect.poll(() => checkRun(dir, 'smove', count).lost, { timeout: 30_000, interval: 200 }).toBe(0);
    } catch (error) {
      const named = [
        ...dispatchers.map((proc, i) => ({ name: `dispatcher ${i}`, proc })),
        ...workers.map((proc, i) => ({ name: `worker ${i}`, proc })),
      ];
      const run = { dir, runId: 'smove', count };
      const diagnosis = await diagnoseStreams(fx.clusterAdmin, partitions, 'workers', run, named);
      throw new Error(`${(error as Error).message}\nmoved ${[...movedTo]}\n${diagnosis}`);
    }
    const result = checkRun(dir, 'smove', count);
    console.info(`slot move: ${moved} keys migrated, lost ${result.lost}, duplicates ${result.duplicates}`);
    for (const proc of [...dispatchers, ...workers]) expect(proc.child.exitCode).toBeNull();
    const stats = await statsJson(env);
    // `stats` follows the moved slots: each moved partition is reported on the master it moved to.
    const reported = new Map(stats.partitions?.map((p) => [p.index, p.node]));
    expect(movedTo.size).toBe(2);
    for (const [index, node] of movedTo) expect(reported.get(index), `partition ${index}`).toBe(node);
  });

  it('lists, shows, replays and purges dead letters with the dlq commands; stats shows the dispatchers', async () => {
    const prefix = uniquePrefix('sdlq');
    const env = streamsEnv(prefix, { REDISPATCH_MAX_PAYLOAD_BYTES: '16', REDISPATCH_MAX_ATTEMPTS: '1' });
    const roomy = { ...env, REDISPATCH_MAX_PAYLOAD_BYTES: '1000' };
    const dir = fx.tempDir('sdlq');
    fx.spawn(['dispatcher'], env);
    fx.spawn(['dispatcher'], env);
    const worker = fx.spawn(['worker', '--handler', REFUSING_HANDLER], { ...env, CHECK_DIR: dir });
    await worker.waitForLog(/worker registered/);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(2);
    await expect
      .poll(async () => (await statsJson(env)).dispatchers?.map((d) => `${d.role} ${d.caughtUp}`), {
        timeout: 15_000,
      })
      .toEqual(['leader true', 'standby true']);
    for (let i = 0; i < 3; i++)
      await fx.clusterAdmin.publish(env.REDISPATCH_CHANNEL, `big:${i}:${'x'.repeat(40)}`);
    await expect.poll(async () => (await statsJson(env)).deadLetters, { timeout: 10_000 }).toBe(3);
    // The binary one strictly later on the servers' clock (one host here), so it lists first.
    const serverMs = async () => {
      const [seconds, micros] = await fx.clusterAdmin.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };
    const cut = await serverMs();
    await expect.poll(serverMs).toBeGreaterThan(cut + 1);
    await fx.clusterAdmin.publish(env.REDISPATCH_CHANNEL, Buffer.from([0, 1, 2, 3, ...Array(20).fill(255)]));
    await expect.poll(async () => (await statsJson(env)).deadLetters, { timeout: 10_000 }).toBe(4);
    const list = await runCli(['dlq', 'list', '--limit', '3'], env);
    expect(list.code).toBe(0);
    expect(list.output).toMatch(/reason="oversize: 46 bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=16"/);
    expect(list.lines[0]).toMatch(/body=<binary 24 bytes: 00010203ffff/);
    expect(list.lines.at(-1)).toBe(
      '3 dead letter(s) shown, 4 in total (newest first, offset 0; next: --offset 3)',
    );
    const binaryId = list.lines[0]?.split(' ')[0] ?? '';
    const shown = await runCli(['dlq', 'show', binaryId], env);
    expect(shown.lines).toContain('00000000: 0001 0203 ffff ffff ffff ffff ffff ffff  ................');
    expect(
      (await runCli(['dlq', 'list', '--reason', 'OVERSIZE', '--newer-than', '1h'], env)).lines.at(-1),
    ).toMatch(/^4 dead letter\(s\) shown, 4 matching/);
    const big = (await runCli(['dlq', 'list', '--offset', '1'], env)).lines[0]?.split(' ')[0] ?? '';

    const oversize = await runCli(['dlq', 'replay', big], env);
    expect(oversize.code).toBe(1);
    expect(oversize.lines).toEqual([
      'replayed 0 dead letter(s)',
      `redispatch: not replayed ${big}: 46 bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=16`,
    ]);
    const dry = await runCli(['dlq', 'replay', '--all', '--dry-run'], roomy);
    expect(dry.lines.at(-1)).toBe('would replay 4 dead letter(s)');
    const replay = await runCli(['dlq', 'replay', big, 'no-such-id'], roomy);
    expect(replay.code).toBe(1);
    expect(replay.lines).toEqual([
      'replayed 1 dead letter(s)',
      'redispatch: no dead letter with id(s): no-such-id',
    ]);
    const refused = await runCli(['dlq', 'purge'], env);
    expect(refused.lines).toEqual([
      'redispatch: dlq purge would delete 3 dead letter(s): pass --yes to confirm (stdin is not a terminal)',
    ]);
    const purge = await runCli(['dlq', 'purge', '--yes'], env);
    expect(purge.lines).toEqual(['purged 3 dead letter(s)']);
    // The replayed one is oversize for the leader, not for the stream: the worker gets it this time.
    await expect.poll(() => checkRun(dir, 'big', 3).handled, { timeout: 10_000 }).toBe(1);
    expect((await statsJson(env)).deadLetters).toBe(0);

    // A handler error's stack is kept with the dead letter.
    await fx.clusterAdmin.publish(env.REDISPATCH_CHANNEL, 'fail-s');
    await expect.poll(async () => (await statsJson(env)).deadLetters, { timeout: 10_000 }).toBe(1);
    const failId = (await runCli(['dlq', 'list'], env)).lines[0]?.split(' ')[0] ?? '';
    const failed = await runCli(['dlq', 'show', failId], env);
    expect(failed.lines).toContain('reason:     TypeError: handler refused fail-s (attempt 1 of 1)');
    expect(failed.output).toMatch(/last error stack:\n {2}TypeError: handler refused fail-s\n {6}at /);
  });
});
