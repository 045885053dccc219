/**
 * The three systems under test, each on its own fresh redis-server, behind one interface:
 * redispatch (the product's CLI processes), the raw ioredis loop (raw.ts) and BullMQ
 * (bullmq-worker.ts). Each has its own load-generator child (load.ts).
 */
import { join } from 'node:path';
import { BENCH_DIST, BENCH_HANDLER, REDISPATCH_BIN } from './paths.js';
import { type Child, cpuSeconds, type Msg, spawnNode } from './procs.js';
import { RAW_KEYS } from './raw-keys.js';
import { CONTROL_CHANNEL, dumpKey, type RunDump } from './recorder.js';
import { type BenchRedis, startBenchRedis } from './redis.js';
import { waitForCounter } from './sampler.js';
import { nowUs, sleep } from './util.js';

export type SystemName = 'redispatch' | 'raw' | 'bullmq';
export const CHANNEL = 'redispatch';
const BULL_QUEUE = 'bench';

export interface Role {
  role: string;
  pid: number;
}

export interface StartOptions {
  logDir: string;
  tag: string;
  workers: number;
  concurrency: number;
  /** redispatch only */
  dispatchers?: number;
  leaseMs?: number;
  nodeArgs?: string[];
}

export abstract class System {
  abstract readonly name: SystemName;
  /** Where the ack counter lives in Redis (none for BullMQ, which reports over IPC). */
  abstract readonly ackCounter: { key: string; field: string } | null;

  constructor(
    readonly redis: BenchRedis,
    readonly load: Child,
    readonly options: StartOptions,
  ) {}

  abstract roles(): Promise<Role[]>;
  abstract acked(): Promise<number>;
  /** µs at which the ack count reached `target` (NaN on timeout). */
  abstract waitAcked(target: number, timeoutMs: number): Promise<number>;
  abstract dump(runId: string): Promise<RunDump[]>;
  abstract stopProcesses(): Promise<void>;
  /** Grows or shrinks the set of worker processes (between runs, when idle). */
  abstract setWorkers(count: number): Promise<void>;
  abstract get workerCount(): number;

  /** Starts a full-speed publish; resolves with the µs of the first publish. */
  async publishFull(runId: string, count: number, size: number): Promise<number> {
    const type = this.name === 'bullmq' ? 'bullmq-full' : 'publish-full';
    this.load.send({
      type,
      url: this.redis.url,
      port: this.redis.port,
      queue: BULL_QUEUE,
      channel: CHANNEL,
      runId,
      count,
      size,
    });
    return (await this.load.next('started', 30_000)).t0 as number;
  }

  /** Starts a fixed-rate publish; resolves with the schedule origin t0 (µs). */
  async publishRate(runId: string, count: number, rate: number, size: number): Promise<number> {
    const type = this.name === 'bullmq' ? 'bullmq-rate' : 'publish-rate';
    this.load.send({
      type,
      url: this.redis.url,
      port: this.redis.port,
      queue: BULL_QUEUE,
      channel: CHANNEL,
      runId,
      count,
      rate,
      size,
    });
    return (await this.load.next('started', 30_000)).t0 as number;
  }

  loadDone(timeoutMs: number): Promise<Msg> {
    return this.load.next('done', timeoutMs);
  }

  /** CPU seconds so far of every process of the system, Redis included. */
  async cpu(): Promise<Record<string, number>> {
    const out: Record<string, number> = {
      redis: cpuSeconds(this.redis.pid),
      publisher: cpuSeconds(this.load.pid),
    };
    for (const { role, pid } of await this.roles()) out[role] = (out[role] ?? 0) + cpuSeconds(pid);
    return out;
  }

  async stop(): Promise<void> {
    await this.stopProcesses();
    await this.load.stop(2_000);
    await this.redis.stop();
  }
}

function startLoad(options: StartOptions): Child {
  return spawnNode({
    name: `${options.tag}-load`,
    script: join(BENCH_DIST, 'load.js'),
    logDir: options.logDir,
    ipc: true,
  });
}

// ------------------------------------------------------------------------------------ redispatch

export class Redispatch extends System {
  readonly name = 'redispatch';
  readonly ackCounter = { key: '{rd}:totals', field: 'acked' };
  readonly dispatchers: Child[] = [];
  readonly workers: Child[] = [];
  private spawned = 0;
  private spawnedWorkers = 0;

  static async start(options: StartOptions): Promise<Redispatch> {
    const redis = await startBenchRedis();
    const system = new Redispatch(redis, startLoad(options), options);
    for (let i = 0; i < (options.dispatchers ?? 3); i++) system.spawnDispatcher();
    for (let i = 0; i < options.workers; i++) system.spawnWorker();
    await system.load.next('ready', 20_000);
    await system.waitReady(30_000);
    return system;
  }

  get workerCount(): number {
    return this.workers.length;
  }

  async setWorkers(count: number): Promise<void> {
    while (this.workers.length < count) this.spawnWorker();
    const leaving = this.workers.splice(count);
    // SIGTERM: the worker drains, settles and deregisters; the leader stops routing to it.
    await Promise.all(leaving.map((w) => w.stop(10_000)));
    await this.waitReady(30_000);
  }

  private env(): Record<string, string> {
    const env: Record<string, string> = {
      REDISPATCH_REDIS_URL: this.redis.url,
      REDISPATCH_METRICS_PORT: '-1',
      REDISPATCH_LOG_LEVEL: 'warn',
      REDISPATCH_CHANNEL: CHANNEL,
      REDISPATCH_QUEUE_HIGH_WATER: '100000',
      REDISPATCH_CONCURRENCY: String(this.options.concurrency),
    };
    if (this.options.leaseMs) env.REDISPATCH_LEASE_MS = String(this.options.leaseMs);
    return env;
  }

  spawnDispatcher(): Child {
    this.spawned += 1;
    const child = spawnNode({
      name: `${this.options.tag}-dispatcher-${this.spawned}`,
      script: REDISPATCH_BIN,
      args: ['dispatcher'],
      env: this.env(),
      nodeArgs: this.options.nodeArgs,
      logDir: this.options.logDir,
    });
    this.dispatchers.push(child);
    return child;
  }

  private spawnWorker(): Child {
    this.spawnedWorkers += 1;
    const child = spawnNode({
      name: `${this.options.tag}-worker-${this.spawnedWorkers}`,
      script: REDISPATCH_BIN,
      args: ['worker', '--handler', BENCH_HANDLER],
      env: this.env(),
      nodeArgs: this.options.nodeArgs,
      logDir: this.options.logDir,
    });
    this.workers.push(child);
    return child;
  }

  /** The leader's pid from `{rd}:leader`, if it is one of our live dispatchers. */
  async leader(): Promise<Child | undefined> {
    const pid = Number(await this.redis.admin.hget('{rd}:leader', 'pid'));
    return this.dispatchers.find((d) => d.pid === pid && d.running);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const c of this.workers) {
        if (!c.running) throw new Error(`${c.name} exited during start-up (see its log)`);
      }
      if (!this.dispatchers.some((d) => d.running))
        throw new Error('every dispatcher exited (see their logs)');
      const leader = await this.leader();
      const registered = await this.redis.admin.zcard('{rd}:workers');
      if (leader && registered === this.workers.length) {
        await sleep(400); // the leader learns live workers on its next reap (every 200 ms)
        return;
      }
      await sleep(50);
    }
    throw new Error('redispatch cluster not ready (no leader or workers not registered)');
  }

  async roles(): Promise<Role[]> {
    const leader = await this.leader();
    return [
      ...this.dispatchers
        .filter((d) => d.running)
        .map((d) => ({ role: d === leader ? 'leader' : 'standby', pid: d.pid })),
      ...this.workers.filter((w) => w.running).map((w) => ({ role: 'workers', pid: w.pid })),
    ];
  }

  async acked(): Promise<number> {
    return Number((await this.redis.admin.hget('{rd}:totals', 'acked')) ?? 0);
  }

  waitAcked(target: number, timeoutMs: number): Promise<number> {
    return waitForCounter(this.redis.admin, '{rd}:totals', 'acked', target, timeoutMs);
  }

  async dump(runId: string): Promise<RunDump[]> {
    const expected = this.workers.filter((w) => w.running).length;
    const key = dumpKey(runId);
    await this.redis.admin.publish(CONTROL_CHANNEL, `dump ${runId}`);
    const deadline = Date.now() + 10_000;
    while ((await this.redis.admin.hlen(key)) < expected && Date.now() < deadline) await sleep(10);
    const all = await this.redis.admin.hgetall(key);
    await this.redis.admin.del(key);
    return Object.values(all).map((text) => JSON.parse(text) as RunDump);
  }

  async stopProcesses(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop(5_000)));
    await Promise.all(this.dispatchers.map((d) => d.stop(5_000)));
  }
}

// ------------------------------------------------------------------------------------ raw loop

export class RawLoop extends System {
  readonly name = 'raw';
  readonly ackCounter = { key: RAW_KEYS.stats, field: 'acked' };
  private leaderChild: Child | undefined;
  private readonly workerChildren: Child[] = [];

  private spawnedWorkers = 0;

  static async start(options: StartOptions, withWorkers = true): Promise<RawLoop> {
    const redis = await startBenchRedis();
    const system = new RawLoop(redis, startLoad(options), options);
    system.leaderChild = spawnNode({
      name: `${options.tag}-raw-leader`,
      script: join(BENCH_DIST, 'raw.js'),
      args: ['leader', redis.url, CHANNEL, String(Math.max(1, options.workers))],
      logDir: options.logDir,
      ipc: true,
    });
    await Promise.all([system.load, system.leaderChild].map((c) => c.next('ready', 20_000)));
    if (withWorkers) await system.setWorkers(options.workers);
    return system;
  }

  get workerCount(): number {
    return this.workerChildren.length;
  }

  async setWorkers(count: number): Promise<void> {
    const started: Child[] = [];
    while (this.workerChildren.length < count) {
      const index = this.workerChildren.length;
      this.spawnedWorkers += 1;
      const child = spawnNode({
        name: `${this.options.tag}-raw-worker-${this.spawnedWorkers}`,
        script: join(BENCH_DIST, 'raw.js'),
        args: ['worker', this.redis.url, String(index)],
        logDir: this.options.logDir,
        ipc: true,
      });
      this.workerChildren.push(child);
      started.push(child);
    }
    await Promise.all(this.workerChildren.splice(count).map((w) => w.stop(2_000)));
    await Promise.all(started.map((c) => c.next('ready', 20_000)));
    if (this.leaderChild) {
      this.leaderChild.send({ type: 'workers', count });
      await this.leaderChild.next('workers-set', 5_000);
    }
  }

  async roles(): Promise<Role[]> {
    return [
      ...(this.leaderChild ? [{ role: 'leader', pid: this.leaderChild.pid }] : []),
      ...this.workerChildren.map((w) => ({ role: 'workers', pid: w.pid })),
    ];
  }

  async acked(): Promise<number> {
    return Number((await this.redis.admin.hget(RAW_KEYS.stats, 'acked')) ?? 0);
  }

  waitAcked(target: number, timeoutMs: number): Promise<number> {
    return waitForCounter(this.redis.admin, RAW_KEYS.stats, 'acked', target, timeoutMs);
  }

  async dump(runId: string): Promise<RunDump[]> {
    return Promise.all(
      this.workerChildren.map(async (w) => {
        w.send({ type: 'dump', runId });
        return (await w.next('dump', 10_000)) as unknown as RunDump;
      }),
    );
  }

  async stopProcesses(): Promise<void> {
    await Promise.all(
      [...this.workerChildren, ...(this.leaderChild ? [this.leaderChild] : [])].map((c) => c.stop(2_000)),
    );
  }
}

// ------------------------------------------------------------------------------------ BullMQ

export class BullMQ extends System {
  readonly name = 'bullmq';
  readonly ackCounter = null;
  private readonly workerChildren: Child[] = [];
  private readonly progress = new Map<number, { completed: number; lastUs: number }>();
  private progressWaiter: (() => void) | undefined;

  private spawnedWorkers = 0;

  static async start(options: StartOptions, withWorkers = true): Promise<BullMQ> {
    const redis = await startBenchRedis();
    const system = new BullMQ(redis, startLoad(options), options);
    await system.load.next('ready', 20_000);
    if (withWorkers) await system.setWorkers(options.workers);
    return system;
  }

  get workerCount(): number {
    return this.workerChildren.length;
  }

  async setWorkers(count: number): Promise<void> {
    const started: Child[] = [];
    while (this.workerChildren.length < count) {
      this.spawnedWorkers += 1;
      const child = spawnNode({
        name: `${this.options.tag}-bullmq-worker-${this.spawnedWorkers}`,
        script: join(BENCH_DIST, 'bullmq-worker.js'),
        args: [String(this.redis.port), BULL_QUEUE, String(this.options.concurrency)],
        logDir: this.options.logDir,
        ipc: true,
      });
      child.onMessage((m) => {
        if (m.type !== 'progress') return;
        this.progress.set(child.pid, { completed: m.completed, lastUs: m.lastUs });
        this.progressWaiter?.();
      });
      this.workerChildren.push(child);
      started.push(child);
    }
    // A stopped worker's completions stay counted (acked() is cumulative).
    await Promise.all(this.workerChildren.splice(count).map((w) => w.stop(3_000)));
    await Promise.all(started.map((c) => c.next('ready', 20_000)));
  }

  async roles(): Promise<Role[]> {
    return this.workerChildren.map((w) => ({ role: 'workers', pid: w.pid }));
  }

  private completed(): { completed: number; lastUs: number } {
    let completed = 0;
    let lastUs = 0;
    for (const p of this.progress.values()) {
      completed += p.completed;
      lastUs = Math.max(lastUs, p.lastUs);
    }
    return { completed, lastUs };
  }

  async acked(): Promise<number> {
    return this.completed().completed;
  }

  async waitAcked(target: number, timeoutMs: number): Promise<number> {
    const deadline = nowUs() + timeoutMs * 1000;
    while (nowUs() < deadline) {
      const { completed, lastUs } = this.completed();
      if (completed >= target) return lastUs;
      await new Promise<void>((resolve) => {
        this.progressWaiter = resolve;
        setTimeout(resolve, 100);
      });
    }
    return Number.NaN;
  }

  async dump(runId: string): Promise<RunDump[]> {
    return Promise.all(
      this.workerChildren.map(async (w) => {
        w.send({ type: 'dump', runId });
        return (await w.next('dump', 10_000)) as unknown as RunDump;
      }),
    );
  }

  async stopProcesses(): Promise<void> {
    await Promise.all(this.workerChildren.map((c) => c.stop(3_000)));
  }
}

export function startSystem(name: SystemName, options: StartOptions): Promise<System> {
  if (name === 'redispatch') return Redispatch.start(options);
  if (name === 'raw') return RawLoop.start(options);
  return BullMQ.start(options);
}
