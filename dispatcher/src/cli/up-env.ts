import { OPTIONS, type OptionKey } from '@redispatch/shared';
import type { Command } from 'commander';
import type { EmbeddedRedis } from './up-embedded-redis.js';

/** Settings `up` decides per child (instance id, metrics and relay ports, the worker's handler). */
const PER_CHILD: ReadonlySet<OptionKey> = new Set(['instanceId', 'metricsPort', 'relayPort', 'handler']);

/**
 * The environment of every child of `up`: `up`'s own environment, every setting given to `up` as a
 * flag turned into its REDISPATCH_* variable (children read exactly what `up` and its display read),
 * and the embedded Redis when `up` started one.
 */
export function childEnvironment(command: Command, redis: EmbeddedRedis | undefined): NodeJS.ProcessEnv {
  const given = command.optsWithGlobals() as Record<string, unknown>;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(OPTIONS) as OptionKey[]) {
    const value = given[key];
    if (value !== undefined && !PER_CHILD.has(key)) env[OPTIONS[key].env] = String(value);
  }
  if (redis) {
    env[OPTIONS.redisUrl.env] = redis.url;
    if (redis.seeds) {
      env[OPTIONS.clusterNodes.env] = redis.seeds;
      env[OPTIONS.mode.env] = 'streams';
    }
  }
  return env;
}
