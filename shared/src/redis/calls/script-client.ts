import type { Cluster, Redis } from 'ioredis';

/** Any client `defineScripts` registered the scripts on: a single Redis or a Redis Cluster. */
export type ScriptClient = Redis | Cluster;

/** One ARGV value as ioredis sends it. */
export type ScriptArg = string | number | Buffer;

/** `reply[index]` as a number (0 when the script left it out). */
export function numberAt(reply: readonly unknown[], index: number): number {
  return Number(reply[index] ?? 0);
}
