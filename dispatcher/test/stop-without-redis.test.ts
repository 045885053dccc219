import { startRedisProcess } from '@redispatch/testing';
import { expect, it } from 'vitest';
import { spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Guarantee 9 (every stop is bounded): the close steps share one budget, the drain timeout plus a
// margin, so a leader whose data Redis went away (its batch unwritable, its unsubscribe unanswered)
// still exits on SIGTERM instead of waiting for a Redis that may never come back.
it('a leader whose data Redis is down still exits on SIGTERM', async () => {
  const redis = await startRedisProcess();
  const prefix = uniquePrefix('stop-down');
  const env = {
    ...testEnv(redis.url, prefix),
    REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
    REDISPATCH_LOG_LEVEL: 'info',
  };
  const dispatcher = spawnCli(['dispatcher'], env);
  try {
    await dispatcher.waitForLog(/"msg":"elected leader"/, 20_000);
    await redis.stop();
    dispatcher.kill('SIGTERM');
    const exit = await dispatcher.exited();
    expect(exit.code, dispatcher.output()).toBe(0);
    expect(dispatcher.output()).toMatch(/"msg":"shutdown step ran out of time; continuing"/);
  } finally {
    dispatcher.kill('SIGKILL');
    await redis.stop();
  }
}, 60_000);
