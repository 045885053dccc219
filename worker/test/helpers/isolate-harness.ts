import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listDeadLetters } from '@redispatch/shared';
import { freePort, type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  FaultCluster,
  type FaultClusterOptions,
  killEverything,
  sleep,
} from '../../../dispatcher/test/helpers/fault-cluster.js';
import { sampleValue, scrape } from '../../../dispatcher/test/helpers/metrics-probe.js';

export const HANDLER = fileURLToPath(new URL('../fixtures/isolate-handler.mjs', import.meta.url));
export const BAD_EXPORT = fileURLToPath(
  new URL('../../../dispatcher/test/fixtures/bad-export.mjs', import.meta.url),
);
export const THROWING_IMPORT = fileURLToPath(new URL('../fixtures/throwing-import.mjs', import.meta.url));

let server: RedisHandle;
/** The file's redis-server URL (after useIsolateServer's beforeAll). */
export function redisUrl(): string {
  return server.url;
}

/** Registers the file's redis-server (and the cleanup of every process the file started). */
export function useIsolateServer(): void {
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await killEverything();
    await server?.stop();
  });
}

export interface Recorded {
  kind: 'fields' | 'aborted';
  id: string;
  hex?: string;
  isBuffer?: boolean;
  header?: Record<string, unknown> | null;
  attempt: number;
  claimedAt?: number;
  signal?: boolean;
  reason?: string;
  pid?: number;
  ppid?: number;
}

export function recorded(dir: string): Recorded[] {
  return readdirSync(dir)
    .filter((file) => file.startsWith('fields-'))
    .flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Recorded);
}

/** Pids whose parent is `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One dispatcher and one isolated worker (serving metrics), started with the given extra environment. */
export async function isolatedCluster(name: string, env: Record<string, string>) {
  const options: FaultClusterOptions = {
    name,
    redisUrl: server.url,
    dispatchers: 1,
    workers: 0,
    concurrency: 4,
    handler: HANDLER,
    env: { REDISPATCH_ISOLATE: 'true', REDISPATCH_ISOLATE_POOL: '4', ...env },
    dispatcherMetrics: true,
  };
  const cluster = await FaultCluster.start(options);
  const metricsPort = await freePort();
  const worker = await cluster.startWorker({ REDISPATCH_METRICS_PORT: String(metricsPort) });
  await expect.poll(async () => (await cluster.stats()).workers.length, { timeout: 10_000 }).toBe(1);
  const restarts = async (reason: string) =>
    sampleValue((await scrape(metricsPort)).families, 'redispatch_worker_isolate_restarts_total', {
      reason,
    }) ?? 0;
  const processes = async () =>
    sampleValue((await scrape(metricsPort)).families, 'redispatch_worker_isolate_processes') ?? 0;
  return { cluster, worker, restarts, processes };
}

/**
 * Worker TTL for the "worker never lapses" tests: the heartbeat (200 ms) must never fall this far
 * behind. Generous, so a busy box does not starve a healthy worker past it; a worker whose event loop a
 * crashing or hogging handler blocked would still cross it.
 */
export const LAPSE_TTL_MS = 5_000;

/** Samples the worker's heartbeat age (as the leader sees it) until `stop()`; returns the largest. */
export function watchHeartbeat(cluster: FaultCluster) {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const stats = await cluster.tryStats();
      for (const w of stats?.workers ?? []) max = Math.max(max, w.heartbeatAgeMs);
      if (stats) samples += 1;
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

export async function deadLetters(cluster: FaultCluster, count: number, timeoutMs = 30_000) {
  await expect
    .poll(async () => (await listDeadLetters(cluster.admin, cluster.keys, 100)).length, {
      timeout: timeoutMs,
      interval: 100,
    })
    .toBeGreaterThanOrEqual(count);
  return listDeadLetters(cluster.admin, cluster.keys, 100);
}
