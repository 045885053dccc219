// Schedules (issue 19) with real processes in both modes: CLI dispatchers (one leads), a worker that
// records every message id, `redispatch schedule add|list|remove`, leaders SIGKILLed mid-schedule and
// every dispatcher down across ticks (--missed skip | once).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  type RedisClusterHandle,
  type RedisHandle,
  startRedis,
  startRedisCluster,
} from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { FaultCluster, killEverything, sleep } from '../helpers/fault-cluster.js';

const RECORDER = fileURLToPath(new URL('../fixtures/tick-recorder.mjs', import.meta.url));

let server: RedisHandle;
let redisCluster: RedisClusterHandle;
beforeAll(async () => {
  server = await startRedis();
  redisCluster = await startRedisCluster({ masters: 3 });
}, 60_000);
afterAll(async () => {
  await killEverything();
  await server?.stop();
  await redisCluster?.stop();
});

const modes = [
  { mode: 'lists', on: () => ({ redisUrl: server.url }) },
  {
    mode: 'streams',
    on: () => ({ redisUrl: redisCluster.nodes[0]?.url ?? '', clusterSeeds: redisCluster.seeds }),
  },
] as const;

interface Listed {
  name: string;
  createdMs: number;
  lastMs: number | null;
  runs: number;
  skipped: number;
}

async function scheduleCli(fleet: FaultCluster, args: string[]): Promise<string> {
  const run = await runCli(['schedule', ...args], fleet.env);
  expect(run.code, run.output).toBe(0);
  return run.output;
}

async function listed(fleet: FaultCluster, name: string): Promise<Listed> {
  const all = JSON.parse(await scheduleCli(fleet, ['list', '--json'])) as Listed[];
  const entry = all.find((e) => e.name === name);
  expect(entry, JSON.stringify(all)).toBeDefined();
  return entry as Listed;
}

/**
 * The due time of every message of schedule `name` as first delivered (`sched:<name>:<dueMs>`,
 * attempt 1), duplicates kept: a tick written twice is two messages, each delivered with attempt 1.
 * Redeliveries (attempt > 1, at-least-once delivery) are the same message and are left out.
 */
function handledTicks(fleet: FaultCluster, name: string): number[] {
  const dues: number[] = [];
  for (const file of readdirSync(fleet.dir).filter((f) => f.endsWith('.ticks'))) {
    for (const line of readFileSync(join(fleet.dir, file), 'utf8').split('\n')) {
      const [id, headerId, attempt] = line.split(' ');
      // The envelope carries the tick id (its dedupe id); lists: the message id too, streams: its start.
      const match = /^sched:([^:]+):(\d+)$/.exec(headerId ?? '');
      if (!match || match[1] !== name || attempt !== '1') continue;
      expect(id?.split('@')[0]).toBe(headerId);
      dues.push(Number(match[2]));
    }
  }
  return dues;
}

/** The gaps (from, to) between consecutive ticks that are further apart than one period. */
function gaps(sorted: number[], periodMs: number): [number, number][] {
  const found: [number, number][] = [];
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1] as number, sorted[i] as number];
    if (b - a !== periodMs) found.push([a, b]);
  }
  return found;
}

describe.each(modes)('schedules ($mode mode)', ({ mode, on }) => {
  it('--every 1000 over ~20 s with 3 leader SIGKILLs: exactly one message per tick', async () => {
    await FaultCluster.run(
      { name: `sched-${mode}`, ...on(), dispatchers: 3, workers: 1, handler: RECORDER },
      async (fleet) => {
        await scheduleCli(fleet, ['add', 'tick', '--every', '1000', '--body', 'tick']);
        const { createdMs } = await listed(fleet, 'tick');
        for (let kill = 0; kill < 3; kill++) {
          await sleep(4_000);
          const leader = await fleet.leader();
          const killedAt = performance.now();
          leader.proc.kill('SIGKILL');
          await fleet.newLeader(leader.epoch, killedAt);
          fleet.startDispatcher();
        }
        await sleep(5_000);
        await scheduleCli(fleet, ['remove', 'tick']);
        const removedAt = Date.now();
        // Let the worker handle what was fired before the removal.
        await sleep(3_000);
        const dues = handledTicks(fleet, 'tick');
        const unique = [...new Set(dues)].sort((a, b) => a - b);
        expect(dues.length - unique.length, 'ticks handled twice').toBe(0);
        expect(unique[0]).toBe(createdMs + 1_000);
        expect(gaps(unique, 1_000), 'ticks missing').toEqual([]);
        // Every tick due well before the removal was fired (≈ 20 s of ticks).
        expect(unique.at(-1) as number).toBeGreaterThanOrEqual(removedAt - 2_000);
        expect(unique.length).toBeGreaterThanOrEqual(18);
        expect((await listed(fleet, 'tick').catch(() => undefined))?.name).toBeUndefined();
      },
    );
  }, 150_000);

  it('--missed skip vs once after every dispatcher was down across ticks', async () => {
    await FaultCluster.run(
      {
        name: `sched-missed-${mode}`,
        ...on(),
        dispatchers: 1,
        workers: 1,
        handler: RECORDER,
        env: { REDISPATCH_LEASE_MS: '1000' },
      },
      async (fleet) => {
        await scheduleCli(fleet, ['add', 'skipper', '--every', '500', '--body', 's', '--missed', 'skip']);
        await scheduleCli(fleet, ['add', 'oncer', '--every', '500', '--body', 'o', '--missed', 'once']);
        await sleep(2_500);
        const only = await fleet.leader();
        only.proc.kill('SIGKILL');
        await only.proc.exited();
        const aliveMs = Number(await fleet.data.hget(fleet.keys.scheduleState, 'alive'));
        expect(aliveMs).toBeGreaterThan(0);
        // grace = 2 × lease + 2 × reap interval = 2,400 ms; down for far longer than that.
        const graceMs = 2 * 1_000 + 2 * 200;
        await sleep(graceMs + 5_000);
        const restartMs = Date.now();
        fleet.startDispatcher();
        await fleet.leader(20_000);
        await sleep(2_500);
        const state = { skipper: await listed(fleet, 'skipper'), oncer: await listed(fleet, 'oncer') };
        await scheduleCli(fleet, ['remove', 'skipper']);
        await scheduleCli(fleet, ['remove', 'oncer']);
        await sleep(2_000);
        for (const [name, policy] of [
          ['skipper', 'skip'],
          ['oncer', 'once'],
        ] as const) {
          const dues = handledTicks(fleet, name);
          const unique = [...new Set(dues)].sort((a, b) => a - b);
          const twice = unique.filter((due) => dues.indexOf(due) !== dues.lastIndexOf(due));
          expect(
            twice.map((due) => due - aliveMs),
            `${name}: ticks handled twice (due − alive mark, ms)`,
          ).toEqual([]);
          const found = gaps(unique, 500);
          // One gap: the time no dispatcher ran (the ticks within the grace after the mark fired).
          expect(found.length, `${name}: gaps ${JSON.stringify(found)}`).toBe(1);
          const [from, to] = found[0] as [number, number];
          expect(from).toBeLessThanOrEqual(aliveMs + graceMs);
          expect(from).toBeGreaterThanOrEqual(aliveMs);
          expect(to).toBeGreaterThan(aliveMs + graceMs);
          const { runs, skipped } = state[name];
          expect(unique.length).toBeGreaterThanOrEqual(runs);
          if (policy === 'skip') {
            // Nothing of the missed window fired: the first tick after it is due after the restart.
            expect(to).toBeGreaterThanOrEqual(restartMs);
            expect(skipped).toBe(1);
          } else {
            // The latest missed tick fired (once), so nothing was skipped.
            expect(skipped).toBe(0);
          }
        }
      },
    );
  }, 120_000);
});
