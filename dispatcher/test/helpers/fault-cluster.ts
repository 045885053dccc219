import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createConnection,
  createDataConnection,
  createKeys,
  type DataClient,
  type Keys,
  loadPartitions,
  type PartitionKeys,
  readStats,
  readStreamStats,
  type Stats,
} from '@redispatch/shared';
import { freePort } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  type CheckResult,
  checkRun,
  type Inventory,
  inventoryOf,
  missingRanges,
  waitForHandled,
} from './checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './cli-process.js';
import { testEnv, uniquePrefix } from './in-process.js';
import { sampleValue, scrape } from './metrics-probe.js';
import { electionsOf, leadershipTimeline, logTail, type StepDown, stepDownsOf } from './process-logs.js';
import type { Takeover } from './takeovers.js';

export { leadershipTimeline, logLines, rssMb } from './process-logs.js';

import { type FaultClusterOptions, sleep } from './fault-options.js';

export { FAULTS_FULL, type FaultClusterOptions, faultSize, sleep } from './fault-options.js';
export type { RetryPublishResult } from './retry-publisher.js';
export { faketimeLibrary, publishWithRetry, type RetryPublishOptions } from './retry-publisher.js';

/** Everything a fault test started, so a failed test still cleans up in afterAll. */
const everything: CliProcess[] = [];
const dirs: string[] = [];

/** Kills every process any FaultCluster started (SIGCONT first, in case a test left one frozen). */
export async function killEverything(): Promise<void> {
  for (const proc of everything) {
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
  }
  await Promise.all(everything.map((proc) => proc.exited()));
  everything.length = 0;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** An admin connection that fails fast while the server is down and reconnects quickly after. */
export function adminConnection(url: string): Redis {
  const admin = createConnection('command', {
    url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'fault-admin',
  });
  return admin;
}

/**
 * Three dispatchers and some checker workers as real CLI processes on one prefix, plus the probes a
 * fault test needs: who leads, stats, the checker's lost/duplicate count, the inventory.
 */
export class FaultCluster {
  readonly prefix: string;
  readonly keys: Keys;
  readonly env: Record<string, string>;
  readonly dir: string;
  /** Lists mode: the data Redis. (Streams mode: one node; use `data`.) */
  readonly admin: Redis;
  /** The data store in either mode: the Redis, or the Redis Cluster in streams mode. */
  readonly data: DataClient;
  private partitions: PartitionKeys[] | undefined;
  /** Live dispatchers by pid. */
  readonly dispatchers = new Map<number, CliProcess>();
  /** Every dispatcher ever started here (also the dead ones, for their logs). */
  readonly allDispatchers: CliProcess[] = [];
  /** Dispatcher index (as passed to `dispatcherRedisUrl`) by pid. */
  readonly dispatcherIndex = new Map<number, number>();
  /** Live workers by pid. */
  readonly workers = new Map<number, CliProcess>();
  /** Every worker ever started here. */
  readonly allWorkers: CliProcess[] = [];
  private dispatcherCount = 0;
  /** Metrics port of dispatcher `index`, when `dispatcherMetrics`. */
  private readonly dispatcherPorts: number[] = [];
  private workerCount = 0;

  private constructor(readonly options: FaultClusterOptions) {
    this.prefix = uniquePrefix(options.name);
    this.keys = createKeys(this.prefix);
    this.dir = mkdtempSync(join(tmpdir(), `redispatch-fault-${options.name}-`));
    dirs.push(this.dir);
    const streams: Record<string, string> = options.clusterSeeds
      ? { REDISPATCH_MODE: 'streams', REDISPATCH_CLUSTER_NODES: options.clusterSeeds }
      : {};
    this.env = { ...testEnv(options.redisUrl, this.prefix), ...streams, CHECK_DIR: this.dir, ...options.env };
    this.admin = adminConnection(options.redisUrl);
    this.data = options.clusterSeeds
      ? createDataConnection('command', {
          url: options.redisUrl,
          clusterNodes: options.clusterSeeds.split(','),
          tls: { insecure: false },
          commandTimeoutMs: 5_000,
          name: 'fault-admin-cluster',
        })
      : this.admin;
  }

  /** Starts a cluster, runs `test` with it and always closes it. */
  static async run<T>(options: FaultClusterOptions, test: (cluster: FaultCluster) => Promise<T>): Promise<T> {
    const cluster = await FaultCluster.start(options);
    try {
      return await test(cluster);
    } finally {
      await cluster.close();
    }
  }

  /** Starts the processes and waits until a leader routes to every worker. */
  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    const cluster = new FaultCluster(options);
    try {
      await (cluster.data === cluster.admin ? cluster.admin.connect() : cluster.data.connect());
      if (options.dispatcherMetrics)
        for (let i = 0; i < (options.dispatchers ?? 3); i++) cluster.dispatcherPorts.push(await freePort());
      const dispatchers = Array.from({ length: options.dispatchers ?? 3 }, () => cluster.startDispatcher());
      await Promise.all(Array.from({ length: options.workers ?? 2 }, () => cluster.startWorker()));
      await Promise.all(dispatchers.map((d) => d.waitForLog(/"msg":"standby"/, 20_000)));
      await cluster.leader();
      await expect
        .poll(async () => (await cluster.stats()).workers.length, { timeout: 10_000 })
        .toBe(options.workers ?? 2);
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  startDispatcher(extra: Record<string, string> = {}): CliProcess {
    const index = this.dispatcherCount++;
    const proc = spawnCli(['dispatcher'], {
      ...this.env,
      REDISPATCH_REDIS_URL: this.options.dispatcherRedisUrl?.(index) ?? this.options.redisUrl,
      REDISPATCH_INSTANCE_ID: `${this.prefix}-d${index}`,
      ...(this.dispatcherPorts[index] === undefined
        ? {}
        : { REDISPATCH_METRICS_PORT: String(this.dispatcherPorts[index]) }),
      ...this.options.dispatcherEnv?.(index),
      ...extra,
    });
    everything.push(proc);
    this.allDispatchers.push(proc);
    this.dispatcherIndex.set(proc.pid, index);
    this.dispatchers.set(proc.pid, proc);
    void proc.exited().then(() => this.dispatchers.delete(proc.pid));
    return proc;
  }

  /** Starts a checker worker (fresh instance id) and waits until it registered. */
  async startWorker(extra: Record<string, string> = {}): Promise<CliProcess> {
    const index = this.workerCount++;
    const proc = spawnCli(
      [
        'worker',
        '--handler',
        this.options.handler ?? CHECKER_HANDLER,
        '--concurrency',
        String(this.options.concurrency ?? 32),
      ],
      {
        ...this.env,
        REDISPATCH_INSTANCE_ID: `${this.prefix}-w${index}`,
        ...this.options.workerEnv?.(index),
        ...extra,
      },
    );
    everything.push(proc);
    this.allWorkers.push(proc);
    this.workers.set(proc.pid, proc);
    void proc.exited().then(() => this.workers.delete(proc.pid));
    await proc.waitForLog(/worker registered/, 20_000);
    return proc;
  }

  /**
   * redispatch_messages_redelivered_total{reason} summed over the live dispatchers (needs
   * `dispatcherMetrics`): "timeout" (ack deadline passed) or "worker_lost" (a worker declared dead).
   */
  async redelivered(reason: 'timeout' | 'worker_lost'): Promise<number> {
    let total = 0;
    for (const [pid, index] of this.dispatcherIndex) {
      const port = this.dispatcherPorts[index];
      if (port === undefined || !this.dispatchers.has(pid)) continue;
      const { families } = await scrape(port);
      total += sampleValue(families, 'redispatch_messages_redelivered_total', { reason }) ?? 0;
    }
    return total;
  }

  async stats(): Promise<Stats> {
    if (!this.options.clusterSeeds) return readStats(this.admin, this.keys, this.prefix);
    this.partitions ??= await loadPartitions(this.data, this.keys, this.prefix, 6);
    return readStreamStats(this.data, this.keys, this.prefix, this.partitions, 'workers');
  }

  /**
   * What a worker that was just killed or stopped holds, once the count stopped moving (two equal reads
   * 100 ms apart). Right after the signal it can still change: acks it wrote just before settle, and a
   * blocked read Redis serves before it notices the closed socket adds entries. Call it well inside the
   * worker TTL / ack timeout, after which the claims are taken back.
   */
  async heldBy(workerId: string, timeoutMs = 10_000): Promise<number> {
    const read = async () => (await this.stats()).workers.find((w) => w.id === workerId)?.inflight ?? 0;
    const deadline = performance.now() + timeoutMs;
    let previous = await read();
    while (performance.now() < deadline) {
      await sleep(100);
      const current = await read();
      if (current === previous) return current;
      previous = current;
    }
    throw new Error(`what ${workerId} holds never settled within ${timeoutMs} ms (last ${previous})`);
  }

  /** Stats, or undefined while the data Redis cannot answer. */
  async tryStats(): Promise<Stats | undefined> {
    try {
      return await this.stats();
    } catch {
      return undefined;
    }
  }

  /** The live dispatcher the leader record names (waits for one). */
  async leader(timeoutMs = 15_000): Promise<{ proc: CliProcess; epoch: number }> {
    let found: { proc: CliProcess; epoch: number } | undefined;
    await expect
      .poll(
        async () => {
          const leader = (await this.tryStats())?.leader;
          const proc = leader ? this.dispatchers.get(leader.pid) : undefined;
          found = proc && leader ? { proc, epoch: leader.epoch } : undefined;
          return found !== undefined;
        },
        { timeout: timeoutMs, interval: 25 },
      )
      .toBe(true);
    return found as { proc: CliProcess; epoch: number };
  }

  /** Waits for a leader with an epoch above `epoch`; `ms` is measured from `since` (performance.now()). */
  async newLeader(
    epoch: number,
    since: number,
    timeoutMs = 15_000,
  ): Promise<{ proc: CliProcess; epoch: number; ms: number }> {
    let found: { proc: CliProcess; epoch: number } | undefined;
    await expect
      .poll(
        async () => {
          const leader = (await this.tryStats())?.leader;
          const proc = leader && leader.epoch > epoch ? this.dispatchers.get(leader.pid) : undefined;
          found = proc && leader ? { proc, epoch: leader.epoch } : undefined;
          return found !== undefined;
        },
        { timeout: timeoutMs, interval: 20 },
      )
      .toBe(true);
    const leader = found as { proc: CliProcess; epoch: number };
    return { ...leader, ms: performance.now() - since };
  }

  /** `redispatch publish` as a real process (Redis pub/sub, plain numbered payloads). */
  publish(runId: string, count: number, rate: number) {
    return runCli(
      ['publish', '--count', String(count), '--rate', String(rate), '--run-id', runId, '--no-timestamp'],
      this.env,
      120_000,
    );
  }

  check(runId: string, count: number): CheckResult {
    return checkRun(this.dir, runId, count);
  }

  /** The never-handled sequence numbers of a run as compact ranges, for notes. */
  missingRanges(runId: string, count: number, limit = 5): string {
    return missingRanges(this.dir, runId, count, limit);
  }

  /** Polls until every message was handled, the timeout passes, or nothing new came for `stallMs`. */
  async waitHandled(runId: string, count: number, timeoutMs = 30_000, stallMs = 5_000): Promise<CheckResult> {
    return waitForHandled(this.dir, runId, count, timeoutMs, stallMs);
  }

  /**
   * Where every accepted message is at the moment: once idle, every accepted id must be acked or
   * dead-lettered; `missing` > 0 means an accepted id vanished from every structure (lost after acceptance).
   */
  static inventory(stats: Stats): Inventory {
    return inventoryOf(stats);
  }

  /** Waits until nothing is queued, in flight, delayed or backlogged; returns the final stats. */
  async waitIdle(timeoutMs = 20_000): Promise<Stats> {
    try {
      await expect
        .poll(async () => FaultCluster.inventory(await this.stats()).outstanding, {
          timeout: timeoutMs,
          interval: 100,
        })
        .toBe(0);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${await this.diagnose()}`);
    }
    return this.stats();
  }

  /**
   * The inventory once it stopped moving (two reads 400 ms apart agree): exact even while something is
   * stuck, unlike waitIdle.
   */
  async settledInventory(timeoutMs = 10_000): Promise<Inventory> {
    const deadline = performance.now() + timeoutMs;
    let last = FaultCluster.inventory(await this.stats());
    for (;;) {
      await sleep(400);
      const next = FaultCluster.inventory(await this.stats());
      if (JSON.stringify(next) === JSON.stringify(last) || performance.now() > deadline) return next;
      last = next;
    }
  }

  /**
   * Waits until at least `count` messages were accepted: faults are injected mid-stream, whenever the
   * publisher process actually got going (its start-up alone can take seconds on a loaded box).
   */
  async waitAccepted(count: number, timeoutMs = 20_000): Promise<void> {
    await expect
      .poll(() => this.accepted().catch(() => 0), { timeout: timeoutMs, interval: 20 })
      .toBeGreaterThanOrEqual(count);
  }

  /** totals.accepted by a plain HGET (works where MULTI does not, e.g. at maxmemory). */
  async accepted(): Promise<number> {
    if (this.options.clusterSeeds) return (await this.stats()).totals.accepted;
    return Number((await this.admin.hget(this.keys.totals, 'accepted')) ?? 0);
  }

  /** Stats and the last log lines of every process, for a failure message. */
  async diagnose(lines = 12): Promise<string> {
    const stats = await this.tryStats();
    return [
      `stats: ${JSON.stringify(stats)}`,
      ...this.allDispatchers.map((p) => logTail(p, 'dispatcher', lines)),
      ...this.allWorkers.map((p) => logTail(p, 'worker', lines)),
    ].join('\n');
  }

  /** Leadership events of every dispatcher in time order (for failure messages). */
  leadershipEvents(): string {
    return leadershipTimeline(this.allDispatchers, (pid) => `d${this.dispatcherIndex.get(pid)}`);
  }

  /** The "elected leader" log lines of every dispatcher (epoch, replayed, markerMatched). */
  elections(): Takeover[] {
    return electionsOf(this.allDispatchers);
  }

  /** "stepped down" log lines of every dispatcher. */
  stepDowns(): StepDown[] {
    return stepDownsOf(this.allDispatchers);
  }

  async close(): Promise<void> {
    const procs = [...this.dispatchers.values(), ...this.workers.values()];
    for (const proc of procs) {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
    }
    await Promise.all(procs.map((proc) => proc.exited()));
    this.admin.disconnect();
    this.data.disconnect();
  }
}
