/** redispatch under test: the product's own CLI processes (dispatchers and workers). */
import { BENCH_HANDLER, REDISPATCH_BIN } from '../paths.js';
import { type Child, spawnNode } from '../procs.js';
import { CONTROL_CHANNEL, dumpKey, type RunDump } from '../recorder.js';
import { startBenchRedis } from '../redis.js';
import { waitForCounter } from '../sampler.js';
import { sleep } from '../util.js';
import { CHANNEL, type Role, type StartOptions, System, startLoad } from './system.js';

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
      REDISPATCH_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
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
