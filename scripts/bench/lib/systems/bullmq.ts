/**
 * A job-queue peer under test (BullMQ, or Bee-Queue with the same method): worker processes
 * (bullmq-worker.ts / bee-worker.ts) that report their completions over IPC.
 */
import { join } from 'node:path';
import { BENCH_DIST } from '../paths.js';
import { type Child, spawnNode } from '../procs.js';
import type { RunDump } from '../recorder.js';
import { startBenchRedis } from '../redis.js';
import { nowUs } from '../util.js';
import { BULL_QUEUE, type Role, type StartOptions, System, startLoad } from './system.js';

/** The two job-queue peers: their name and worker script. */
const PEERS = {
  bullmq: 'bullmq-worker.js',
  beequeue: 'bee-worker.js',
} as const;
export type PeerName = keyof typeof PEERS;

export class BullMQ extends System {
  readonly name: PeerName = 'bullmq';
  readonly ackCounter = null;
  private readonly workerChildren: Child[] = [];
  private readonly progress = new Map<number, { completed: number; lastUs: number }>();
  private progressWaiter: (() => void) | undefined;

  private spawnedWorkers = 0;

  static async start(options: StartOptions, withWorkers = true, peer: PeerName = 'bullmq'): Promise<BullMQ> {
    const redis = await startBenchRedis();
    const system =
      peer === 'bullmq'
        ? new BullMQ(redis, startLoad(options), options)
        : new BeeQueue(redis, startLoad(options), options);
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
        name: `${this.options.tag}-${this.name}-worker-${this.spawnedWorkers}`,
        script: join(BENCH_DIST, PEERS[this.name]),
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

/** Bee-Queue: the same processes and method as BullMQ, its own worker script and load commands. */
export class BeeQueue extends BullMQ {
  override readonly name: PeerName = 'beequeue';
}
