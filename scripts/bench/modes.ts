/**
 * Lists mode next to streams mode, measured the same way: 3 dispatchers and W workers (the
 * product's CLI processes, noop handler) on the mode's own store — one redis-server for lists, a
 * 3-master Redis Cluster (6 partitions) for streams — then `redispatch publish --count N --rate 0`
 * timed from its start until every message is acked (the `acked` totals, polled every 10 ms).
 * Rounds alternate the modes so box noise hits both; the report gives medians and the ratio.
 *
 *   npm run bench:modes            # 3 rounds x 50,000 messages of 100 B, 2 workers
 *   npm run bench:modes -- --quick # 2 rounds x 20,000
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDataConnection,
  createKeys,
  type DataClient,
  loadPartitions,
  type PartitionKeys,
} from '@redispatch/shared';
import {
  type RedisClusterHandle,
  type RedisHandle,
  startRedisCluster,
  startRedisProcess,
} from '@redispatch/testing';
import { REDISPATCH_BIN, REPO } from './lib/paths.js';
import { type Child, spawnNode, stopAll } from './lib/procs.js';
import { sleep } from './lib/util.js';

type Mode = 'lists' | 'streams';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 3;
const COUNT = quick ? 20_000 : 50_000;
const SIZE = 100;
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const NOOP = join(REPO, 'dispatcher/dist/cli/noop-handler.js');

interface Deployment {
  mode: Mode;
  env: Record<string, string>;
  admin: DataClient;
  partitions: PartitionKeys[];
  processes: Child[];
  stop(): Promise<void>;
}

async function deploy(mode: Mode, logDir: string): Promise<Deployment> {
  let server: RedisHandle | undefined;
  let cluster: RedisClusterHandle | undefined;
  if (mode === 'streams') cluster = await startRedisCluster({ masters: 3 });
  else server = await startRedisProcess();
  const first = cluster?.nodes[0];
  const url = server?.url ?? `redis://${first?.host}:${first?.port}`;
  const prefix = `bench-${mode}`;
  const env: Record<string, string> = {
    REDISPATCH_REDIS_URL: url,
    REDISPATCH_PREFIX: prefix,
    REDISPATCH_CHANNEL: `${prefix}-in`,
    REDISPATCH_METRICS_PORT: '-1',
    REDISPATCH_LOG_LEVEL: 'warn',
    REDISPATCH_CONCURRENCY: '64',
    ...(cluster ? { REDISPATCH_MODE: 'streams', REDISPATCH_CLUSTER_NODES: cluster.seeds } : {}),
  };
  const admin = createDataConnection('command', {
    url,
    clusterNodes: cluster?.seeds.split(','),
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'bench-admin',
  });
  await admin.connect();
  const processes: Child[] = [];
  const spawnRole = (name: string, args: string[]) =>
    processes.push(spawnNode({ name: `${mode}-${name}`, script: REDISPATCH_BIN, args, env, logDir }));
  for (let i = 0; i < 3; i++) spawnRole(`dispatcher${i}`, ['dispatcher']);
  for (let i = 0; i < WORKERS; i++) spawnRole(`worker${i}`, ['worker', '--handler', NOOP]);
  const keys = createKeys(prefix);
  for (let i = 0; ; i++) {
    const leader = await admin.hget(keys.leader, 'id');
    const live = await admin.zcard(keys.workers);
    if (leader && live >= WORKERS) break;
    if (i > 300) throw new Error(`${mode}: no leader or workers after 30 s (logs in ${logDir})`);
    await sleep(100);
  }
  const partitions = mode === 'streams' ? await loadPartitions(admin, keys, prefix, 6) : [];
  await sleep(1_000);
  return {
    mode,
    env,
    admin,
    partitions,
    processes,
    async stop() {
      await stopAll(3_000);
      admin.disconnect();
      await Promise.all([server?.stop(), cluster?.stop()]);
    },
  };
}

async function acked(d: Deployment): Promise<number> {
  const keys = createKeys(d.env.REDISPATCH_PREFIX ?? '');
  const fields = await Promise.all(
    d.mode === 'lists'
      ? [d.admin.hget(keys.totals, 'acked')]
      : d.partitions.map((p) => d.admin.hget(p.totals, 'acked')),
  );
  return fields.reduce((sum, value) => sum + Number(value ?? 0), 0);
}

/** Publishes COUNT messages at full speed; returns msg/s from publish start to the last ack. */
async function round(d: Deployment, logDir: string, r: number): Promise<number> {
  const base = await acked(d);
  const started = performance.now();
  const publisher = spawnNode({
    name: `${d.mode}-publish-${r}`,
    script: REDISPATCH_BIN,
    args: ['publish', '--count', String(COUNT), '--rate', '0', '--size', String(SIZE), '--no-timestamp'],
    env: d.env,
    logDir,
  });
  const deadline = started + 180_000;
  while ((await acked(d)) < base + COUNT) {
    if (performance.now() > deadline) throw new Error(`${d.mode}: round ${r} not acked within 180 s`);
    await sleep(10);
  }
  const seconds = (performance.now() - started) / 1000;
  await publisher.exited;
  return COUNT / seconds;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'redispatch-bench-modes-'));
  const results: Record<Mode, number[]> = { lists: [], streams: [] };
  // One deployment at a time (both at once would share the two cores), alternating per round.
  for (let r = 1; r <= ROUNDS; r++) {
    for (const mode of (r % 2 ? ['lists', 'streams'] : ['streams', 'lists']) as Mode[]) {
      const d = await deploy(mode, logDir);
      try {
        const rate = await round(d, logDir, r);
        results[mode].push(rate);
        process.stdout.write(`round ${r} ${mode}: ${Math.round(rate)} msg/s\n`);
      } finally {
        await d.stop();
      }
    }
  }
  const lists = median(results.lists);
  const streams = median(results.streams);
  const table = [
    `| mode (store) | median msg/s publish to ack | runs | vs lists |`,
    `| --- | --- | --- | --- |`,
    `| lists (1 redis-server) | ${Math.round(lists)} | ${results.lists.map(Math.round).join(', ')} | 1.00x |`,
    `| streams (3-master cluster, 6 partitions) | ${Math.round(streams)} | ${results.streams.map(Math.round).join(', ')} | ${(streams / lists).toFixed(2)}x |`,
  ].join('\n');
  const summary = `${COUNT} messages of ${SIZE} B per run, 3 dispatchers, ${WORKERS} workers (noop handler, concurrency 64), ${ROUNDS} rounds\n\n${table}\n`;
  process.stdout.write(`\n${summary}`);
  writeFileSync(join(logDir, 'modes.md'), summary);
  process.stdout.write(`logs and modes.md in ${logDir}\n`);
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`bench:modes failed: ${(error as Error).stack ?? error}\n`);
    await stopAll(1_000);
    process.exit(1);
  },
);
