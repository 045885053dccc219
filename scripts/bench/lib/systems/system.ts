/**
 * What every system under test offers the scenarios: each runs on its own fresh redis-server
 * with its own load-generator child (load.ts); the subclasses add their own processes.
 */
import { join } from 'node:path';
import { BENCH_DIST } from '../paths.js';
import { type Child, cpuSeconds, type Msg, spawnNode } from '../procs.js';
import type { RunDump } from '../recorder.js';
import type { BenchRedis } from '../redis.js';

export type SystemName = 'redispatch' | 'raw' | 'bullmq' | 'beequeue';
export const CHANNEL = 'redispatch';
export const BULL_QUEUE = 'bench';

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
    const type =
      this.name === 'bullmq' ? 'bullmq-full' : this.name === 'beequeue' ? 'bee-full' : 'publish-full';
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
    const type =
      this.name === 'bullmq' ? 'bullmq-rate' : this.name === 'beequeue' ? 'bee-rate' : 'publish-rate';
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

/** The load-generator child (load.ts) that publishes for a system. */
export function startLoad(options: StartOptions): Child {
  return spawnNode({
    name: `${options.tag}-load`,
    script: join(BENCH_DIST, 'load.js'),
    logDir: options.logDir,
    ipc: true,
  });
}
