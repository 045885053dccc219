/** The raw ioredis loop under test (raw.ts): the bare Redis work of the design, none of its guarantees. */
import { join } from 'node:path';
import { BENCH_DIST } from '../paths.js';
import { type Child, spawnNode } from '../procs.js';
import { RAW_KEYS } from '../raw-keys.js';
import type { RunDump } from '../recorder.js';
import { startBenchRedis } from '../redis.js';
import { waitForCounter } from '../sampler.js';
import { CHANNEL, type Role, type StartOptions, System, startLoad } from './system.js';

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
