import { createKeys, readStats } from '@redispatch/shared';
import { startRedisProcess } from '@redispatch/testing';
import { expect, it } from 'vitest';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

const fx = useProcessFixture();

// A real stall, not an injected error: CLIENT PAUSE WRITE holds every write (the election script
// included) on the data Redis past the command timeout, while the lease lives on its own Redis and
// keeps being renewed.
it('retries a takeover whose writes time out while it holds the lease, instead of abandoning it', async () => {
  const lock = await startRedisProcess();
  try {
    const prefix = uniquePrefix('takeover-retry');
    const env = {
      ...testEnv(fx.redis.url, prefix),
      REDISPATCH_LOCK_URLS: lock.url,
      REDISPATCH_LEASE_MS: '4000',
      REDISPATCH_COMMAND_TIMEOUT_MS: '200',
    };
    // Held until the retry is seen (however slowly the process starts on a loaded box), then lifted.
    await fx.admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
    const dispatcher = fx.spawn(['dispatcher'], env);
    try {
      await dispatcher.waitForLog(/"msg":"takeover step failed; retrying while the lease holds"/, 20_000);
    } finally {
      await fx.admin.call('CLIENT', 'UNPAUSE');
    }
    await dispatcher.waitForLog(/"msg":"elected leader"/, 20_000);
    const output = dispatcher.output();
    expect(output).toMatch(
      /"step":"taking over"[^\n]*"msg":"takeover step failed; retrying while the lease holds"/,
    );
    expect(output).not.toMatch(/taking over failed; stepping down/);
    const stats = await readStats(fx.admin, createKeys(prefix), prefix);
    expect(stats.leader?.pid).toBe(dispatcher.pid);
  } finally {
    await lock.stop();
  }
}, 60_000);
