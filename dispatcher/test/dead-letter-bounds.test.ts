import { createKeys, encodeOutboundEntry } from '@redispatch/shared';
import { startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Issue 22 item 3: publishers cannot fill Redis through the dead letters. An oversize payload keeps
// only its first bytes (its size in the reason), every dead-letter list is capped at
// REDISPATCH_DLQ_MAX (oldest out, counted), and `dlq replay` refuses a truncated letter.
const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);

it('an oversize flood under maxmemory + noeviction leaves Redis writable; dead-letter lists stay at their cap', async () => {
  const data = await startRedisProcess();
  const lock = await startRedisProcess();
  const admin = new Redis(data.url);
  const prefix = uniquePrefix('dlq-bounds');
  const keys = createKeys(prefix);
  const cap = 50;
  const env = {
    ...testEnv(data.url, prefix),
    REDISPATCH_LOCK_URLS: lock.url,
    REDISPATCH_MAX_PAYLOAD_BYTES: String(64 * 1024),
    REDISPATCH_DLQ_MAX: String(cap),
    REDISPATCH_LOG_LEVEL: 'info',
  };
  const dispatcher = spawnCli(['dispatcher'], env);
  try {
    await dispatcher.waitForLog(/"msg":"elected leader"/, 20_000);
    // Undeliverable replies past the cap, written as the relay writes them (newest at the head).
    const [seconds] = await admin.time();
    const at = Number(seconds) * 1000;
    for (let i = 0; i < cap + 30; i++) {
      await admin.lpush(
        keys.outboundDead,
        Buffer.concat([
          Buffer.from(`${at + i}:7:expired`),
          encodeOutboundEntry(
            { messageId: `m${i}`, replyTo: 'ws:r:s', payload: Buffer.from('r'), text: false },
            at,
          ),
        ]),
      );
    }
    const maxmemory = (await usedMemory(admin)) + 8 * 1024 * 1024;
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', String(maxmemory));

    // 200 payloads of 256 KB (50 MB, six times maxmemory's headroom) against a 64 KB limit.
    const publisherEnv = { ...env, REDISPATCH_MAX_PAYLOAD_BYTES: String(1024 * 1024) };
    const published = await runCli(
      ['publish', '--count', '200', '--size', String(256 * 1024), '--rate', '100'],
      publisherEnv,
      120_000,
    );
    expect(published.code, published.output).toBe(0);
    await expect
      .poll(async () => Number(await admin.hget(keys.totals, 'deadLettered')), {
        timeout: 30_000,
        interval: 200,
      })
      .toBeGreaterThanOrEqual(200);
    await expect.poll(() => admin.zcard(keys.dlq), { timeout: 10_000, interval: 100 }).toBe(cap);
    await expect.poll(() => admin.llen(keys.outboundDead), { timeout: 10_000, interval: 100 }).toBe(cap);

    // Redis still takes writes, well under maxmemory; each letter keeps a prefix and names the size.
    expect(await admin.set(`${prefix}-probe`, 'x')).toBe('OK');
    const used = await usedMemory(admin);
    expect(used).toBeLessThan(maxmemory);
    const [newest] = await admin.zrange(keys.dlq, -1, -1);
    expect(await admin.hstrlen(keys.body, newest ?? '')).toBeLessThanOrEqual(1024);
    // The publisher's envelope header adds a few bytes to the 256 KB body.
    expect(await admin.hget(keys.errors, newest ?? '')).toMatch(
      /^oversize: 2621\d\d bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=65536 \(first 1024 bytes kept\)$/,
    );
    console.log(
      `dlq-bounds: used_memory ${(used / 1048576).toFixed(1)} MB of maxmemory ${(maxmemory / 1048576).toFixed(1)} MB after 50 MB of oversize payloads`,
    );

    // Replay re-checks the intake limits: a truncated body is refused even under a larger limit.
    const replay = await runCli(['dlq', 'replay', newest ?? ''], {
      ...env,
      REDISPATCH_MAX_PAYLOAD_BYTES: '1048576',
    });
    expect(replay.code).toBe(1);
    expect(replay.output).toMatch(
      new RegExp(`not replayed ${newest}: only a prefix of its 2621\\d\\d bytes was kept`),
    );
    expect(await admin.zcard(keys.dlq)).toBe(cap);
  } finally {
    dispatcher.kill('SIGKILL');
    admin.disconnect();
    await Promise.all([data.stop(), lock.stop()]);
  }
}, 180_000);
