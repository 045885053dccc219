import { createKeys, readStats } from '@redispatch/shared';
import { startRedisProcess } from '@redispatch/testing';
import { expect, it } from 'vitest';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

const fx = useProcessFixture();

// Real faults: CLIENT PAUSE WRITE holds the election script on the data Redis past the command
// timeout (the client gives up; Redis still runs it once the pause lifts), and SIGSTOP of the lock
// Redis makes the lease renewal fail, so the takeover fails for good. The elections the client gave
// up on write a leader record naming this process after it stepped down: that record must not stay.
it('clears the leader record of a takeover that failed for good, even one whose election script answered late', async () => {
  const lock = await startRedisProcess();
  const prefix = uniquePrefix('takeover-failed');
  const keys = createKeys(prefix);
  const env = {
    ...testEnv(fx.redis.url, prefix),
    REDISPATCH_LOCK_URLS: lock.url,
    REDISPATCH_LEASE_MS: '3000',
    REDISPATCH_COMMAND_TIMEOUT_MS: '200',
  };
  let lockStopped = false;
  try {
    await fx.admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
    const dispatcher = fx.spawn(['dispatcher'], env);
    try {
      await dispatcher.waitForLog(/"msg":"takeover step failed; retrying while the lease holds"/, 20_000);
      lock.signal('SIGSTOP');
      lockStopped = true;
      // Either the renewal fails, or (on a slow box) the retries run the lease too low first.
      await dispatcher.waitForLog(/"msg":"(lease renewal failed|taking over failed); stepping down"/, 20_000);
    } finally {
      await fx.admin.call('CLIENT', 'UNPAUSE');
    }
    // The queued election scripts (and the resign behind them) run now; the lock stays frozen, so
    // this process cannot win again and any record naming it is a leftover.
    await expect
      .poll(async () => Number(await fx.admin.get(keys.epoch)), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(dispatcher.output()).not.toMatch(/"msg":"elected leader"/);
    const stats = await readStats(fx.admin, keys, prefix);
    expect(stats.leader).toBeNull();
    expect(await fx.admin.exists(keys.leader)).toBe(0);
  } finally {
    if (lockStopped) lock.signal('SIGCONT');
    await lock.stop();
  }
}, 90_000);
