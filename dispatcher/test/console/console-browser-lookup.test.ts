import { createKeys, framePayload, loadPartitions } from '@redispatch/shared';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_TESTS, launchChromium } from '../helpers/browser.js';
import { CHECKER_HANDLER } from '../helpers/cli-process.js';
import { startConsole } from '../helpers/console-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// Message lookup through the page in a real headless Chromium: a message in each state (lists
// mode), and streams mode's partitions and lookup.
const fx = useProcessFixture();

let browser: Browser;
beforeAll(async () => {
  if (BROWSER_TESTS) browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
});

const slowEnv = (prefix: string, extra: Record<string, string> = {}) => ({
  ...testEnv(fx.redis.url, prefix, {
    REDISPATCH_MAX_ATTEMPTS: '1',
    REDISPATCH_MAX_PAYLOAD_BYTES: '64',
    REDISPATCH_ACK_TIMEOUT_MS: '120000',
    REDISPATCH_QUEUE_HIGH_WATER: '1',
    REDISPATCH_CONCURRENCY: '1',
    ...extra,
  }),
  CHECK_DIR: fx.tempDir(prefix),
  CHECK_DELAY_MS: '60000',
});

/** Types the id into the page's lookup and returns the state and body it shows. */
async function find(page: Page, id: string): Promise<{ state: string; body: string; worker: string }> {
  await page.getByTestId('lookup-id').fill(id);
  await page.getByTestId('lookup-go').click();
  const result = page.getByTestId('lookup-result');
  await result.filter({ hasText: id }).waitFor({ timeout: 5_000 });
  const read = async (testId: string) =>
    (await result.getByTestId(testId).count()) > 0
      ? ((await result.getByTestId(testId).textContent()) ?? '')
      : '';
  return { state: await read('lookup-state'), body: await read('body'), worker: await read('lookup-worker') };
}

describe.runIf(BROWSER_TESTS)('console page in Chromium: message lookup', () => {
  it('lists mode: finds a message in flight, queued, in the backlog, delayed, dead, and an unknown id', async () => {
    const prefix = uniquePrefix('cwlook');
    const keys = createKeys(prefix);
    const env = slowEnv(prefix);
    const workerId = `${prefix}-w`;
    fx.spawn(['dispatcher'], env);
    const worker = fx.spawn(['worker', '--instance-id', workerId, '--handler', CHECKER_HANDLER], env);
    await worker.waitForLog(/worker registered/);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(1);
    const c = await startConsole(fx, env);

    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:1');
    await expect.poll(() => fx.admin.zcard(keys.inflight), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:2');
    await expect.poll(() => fx.admin.llen(keys.queue(workerId)), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'slow:3');
    await expect.poll(() => fx.admin.llen(keys.backlog), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, framePayload('later', { delayMs: 600_000 }));
    await expect.poll(() => fx.admin.zcard(keys.delayed), { timeout: 15_000 }).toBe(1);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, Buffer.from([0, 1, 2, 255, ...Array(70).fill(7)]));
    await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 15_000 }).toBe(1);

    const page = await browser.newPage();
    await page.goto(`${c.url}/`);
    await page.getByTestId('lookup-id').waitFor({ timeout: 10_000 });
    const one = async (read: Promise<string[]>) => (await read)[0] ?? '';
    const inflight = await find(page, await one(fx.admin.zrange(keys.inflight, 0, -1)));
    expect(inflight).toEqual({ state: 'inflight', body: 'slow:1', worker: workerId });
    expect(await find(page, await one(fx.admin.lrange(keys.queue(workerId), 0, -1)))).toEqual({
      state: 'queued',
      body: 'slow:2',
      worker: workerId,
    });
    expect(await find(page, await one(fx.admin.lrange(keys.backlog, 0, -1)))).toMatchObject({
      state: 'backlog',
      body: 'slow:3',
    });
    expect((await find(page, await one(fx.admin.zrange(keys.delayed, 0, -1)))).state).toBe('delayed');
    // A binary body is shown as a hex dump.
    const dead = await find(page, await one(fx.admin.zrange(keys.dlq, 0, -1)));
    expect(dead.state).toBe('dead');
    expect(dead.body).toMatch(/^00000000 {2}00 01 02 ff 07 07/);
    expect(await find(page, 'no-such-message')).toEqual({ state: 'unknown', body: '', worker: '' });
    await page.close();
  });

  it('streams mode: shows the partitions with where they live, and finds a waiting message', async () => {
    const prefix = uniquePrefix('cwslook');
    const env = slowEnv(prefix, { REDISPATCH_MODE: 'streams', REDISPATCH_PARTITIONS: '3' });
    fx.spawn(['dispatcher', '--instance-id', `${prefix}-d1`], env);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(1);
    const c = await startConsole(fx, env);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'waiting:1');
    const partitions = await loadPartitions(fx.admin, createKeys(prefix), prefix, 3);
    const waitingId = async () => {
      for (const p of partitions)
        for (const [, fields] of await fx.admin.xrange(p.stream, '-', '+'))
          return String(fields[fields.indexOf('i') + 1]);
      return '';
    };
    await expect.poll(waitingId, { timeout: 15_000 }).not.toBe('');

    const page = await browser.newPage();
    await page.goto(`${c.url}/`);
    await expect.poll(() => page.getByTestId('mode').textContent(), { timeout: 10_000 }).toBe('streams');
    await expect
      .poll(() => page.getByTestId('leader-id').textContent(), { timeout: 10_000 })
      .toBe(`${prefix}-d1`);
    expect(await page.getByTestId('partition-master').allTextContents()).toEqual(
      Array(3).fill('(single redis)'),
    );
    expect(await find(page, await waitingId())).toEqual({ state: 'backlog', body: 'waiting:1', worker: '' });
    await page.close();
  });
});
