/** A fresh redis-server per system under test, and what INFO tells about it. */
import { type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';

export interface BenchRedis {
  handle: RedisHandle;
  url: string;
  port: number;
  /** The orchestrator's own connection (polling, INFO). */
  admin: Redis;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts redis-server on a free loopback port through the project's test launcher (no
 * persistence; pub/sub output buffer raised to 256mb/64mb/60 by the launcher, see docs/guarantees.md).
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  const handle = await startRedisProcess();
  const admin = new Redis(handle.url, { maxRetriesPerRequest: 1, enableAutoPipelining: false });
  const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1] ?? -1);
  return {
    handle,
    url: handle.url,
    port: handle.port,
    admin,
    pid,
    async stop() {
      admin.disconnect();
      await handle.stop();
    },
  };
}

function field(info: string, name: string): number {
  const match = new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info);
  return match ? Number(match[1]) : Number.NaN;
}

export async function usedMemory(redis: Redis): Promise<number> {
  return field(await redis.info('memory'), 'used_memory');
}

/** used_cpu_sys + used_cpu_user, seconds. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return field(info, 'used_cpu_sys') + field(info, 'used_cpu_user');
}

export interface CommandStat {
  calls: number;
  usec: number;
}

/** INFO commandstats as { command: { calls, usec } }. */
export async function commandStats(redis: Redis): Promise<Record<string, CommandStat>> {
  const out: Record<string, CommandStat> = {};
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) out[match[1] as string] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return out;
}

/** What changed between two commandstats snapshots, largest usec first. */
export function commandStatsDelta(
  before: Record<string, CommandStat>,
  after: Record<string, CommandStat>,
): { command: string; calls: number; usec: number }[] {
  return Object.entries(after)
    .map(([command, stat]) => ({
      command,
      calls: stat.calls - (before[command]?.calls ?? 0),
      usec: stat.usec - (before[command]?.usec ?? 0),
    }))
    .filter((d) => d.calls > 0)
    .sort((a, b) => b.usec - a.usec);
}
