import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeys, encodeOutboundEntry } from '@redispatch/shared';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_TESTS, launchChromium } from '../helpers/browser.js';
import { startConsole } from '../helpers/console-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// The console page in a real headless Chromium against real processes (lists mode): the election
// and its change after a SIGKILL, every worker, dead letters replayed and purged through the page
// with the token and refused without it, a hostile body shown as text. Lookups: console-browser-lookup.
const fx = useProcessFixture();
const REFUSING_HANDLER = fileURLToPath(new URL('../fixtures/refusing-handler.mjs', import.meta.url));
const TOKEN = 'console-browser-token-0123';
const HOSTILE = 'fail-<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

let browser: Browser;
beforeAll(async () => {
  if (BROWSER_TESTS) browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
});

const text = (page: Page, testId: string) =>
  page
    .getByTestId(testId)
    .first()
    .textContent({ timeout: 2_000 })
    .catch(() => '');
const texts = (page: Page, testId: string) => page.getByTestId(testId).allTextContents();

function handled(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
}

describe.runIf(BROWSER_TESTS)('console page in Chromium (lists mode)', () => {
  it('shows the leader and every worker, follows a SIGKILLed leader, and acts on dead letters only with the token', async () => {
    const prefix = uniquePrefix('cweb');
    const keys = createKeys(prefix);
    const dir = fx.tempDir('cweb');
    const env = {
      ...testEnv(fx.redis.url, prefix, { REDISPATCH_MAX_ATTEMPTS: '1', REDISPATCH_MAX_PAYLOAD_BYTES: '100' }),
      CHECK_DIR: dir,
    };
    const dispatchers = new Map(
      [1, 2].map((n) => [
        `${prefix}-d${n}`,
        fx.spawn(['dispatcher', '--instance-id', `${prefix}-d${n}`], env),
      ]),
    );
    const workerIds = [`${prefix}-w1`, `${prefix}-w2`];
    const workers = workerIds.map((id) =>
      fx.spawn(['worker', '--instance-id', id, '--handler', REFUSING_HANDLER], env),
    );
    await Promise.all(workers.map((w) => w.waitForLog(/worker registered/)));
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(2);
    const c = await startConsole(fx, {
      ...env,
      REDISPATCH_MAX_PAYLOAD_BYTES: '1000',
      REDISPATCH_CONSOLE_TOKEN: TOKEN,
    });

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${c.url}/`);

    // The election and the workers, live.
    await expect.poll(() => fx.admin.hget(keys.leader, 'id'), { timeout: 15_000 }).toMatch(/-d[12]$/);
    const leader = (await fx.admin.hget(keys.leader, 'id')) ?? '';
    await expect.poll(() => text(page, 'leader-id'), { timeout: 10_000 }).toBe(leader);
    await expect
      .poll(
        async () =>
          (await texts(page, 'worker'))
            .map((row) => row.split(' ')[0]?.slice(0, workerIds[0]?.length))
            .sort(),
        { timeout: 10_000 },
      )
      .toEqual(workerIds);
    await expect
      .poll(() => texts(page, 'standby'), { timeout: 10_000 })
      .toEqual([expect.stringContaining('standbyyes')]);
    expect(await text(page, 'mode')).toBe('lists');

    // SIGKILL the leader: the page names the other dispatcher, with a higher epoch.
    const epoch = Number(await text(page, 'epoch'));
    dispatchers.get(leader)?.kill('SIGKILL');
    const survivor = [...dispatchers.keys()].find((id) => id !== leader);
    await expect.poll(() => text(page, 'leader-id'), { timeout: 20_000 }).toBe(survivor);
    expect(Number(await text(page, 'epoch'))).toBeGreaterThan(epoch);

    // Dead letters: two the handler will take once replayed (oversize for the dispatcher's 100 bytes),
    // and a hostile one the handler refuses.
    await fx.admin.publish(env.REDISPATCH_CHANNEL, `big:0:${'x'.repeat(120)}`);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, `big:1:${'x'.repeat(120)}`);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, HOSTILE);
    await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 15_000 }).toBe(3);
    await expect.poll(async () => (await texts(page, 'dlq-row')).length, { timeout: 10_000 }).toBe(3);

    // The hostile body, viewed in full, is text: no element made, no script run.
    const hostileRow = page.getByTestId('dlq-row').filter({ hasText: 'handler refused' });
    await hostileRow.getByTestId('dlq-view').click();
    await expect.poll(() => text(page, 'body'), { timeout: 5_000 }).toBe(HOSTILE);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#dlq script, #dlq img').count()).toBe(0);

    // Without the token: refused (401), nothing purged.
    await page.getByTestId('dlq-purge').click();
    await page.getByTestId('dlq-confirm-yes').click();
    await expect.poll(() => text(page, 'dlq-message'), { timeout: 5_000 }).toMatch(/^refused: 401: /);
    expect(await fx.admin.zcard(keys.dlq)).toBe(3);

    // With the token: replay the two big ones (selected), then purge what matches a reason filter.
    await page.getByTestId('token').fill(TOKEN);
    for (const row of await page.getByTestId('dlq-row').filter({ hasText: 'oversize' }).all())
      await row.getByTestId('dlq-select').check();
    await page.getByTestId('dlq-replay').click();
    await expect.poll(() => text(page, 'dlq-confirm'), { timeout: 5_000 }).toContain('Replay 2 selected?');
    await page.getByTestId('dlq-confirm-yes').click();
    await expect.poll(() => text(page, 'dlq-message'), { timeout: 5_000 }).toBe('replayed 2');
    await expect.poll(() => handled(dir).sort(), { timeout: 15_000 }).toEqual(['big:0', 'big:1']);
    expect(await fx.admin.zcard(keys.dlq)).toBe(1);

    await page.getByTestId('dlq-reason').fill('handler refused');
    await page.getByTestId('dlq-purge').click();
    await expect
      .poll(() => text(page, 'dlq-confirm'), { timeout: 5_000 })
      .toContain('every one matching "handler refused"');
    await page.getByTestId('dlq-confirm-yes').click();
    await expect.poll(() => text(page, 'dlq-message'), { timeout: 5_000 }).toBe('purged 1');
    expect(await fx.admin.zcard(keys.dlq)).toBe(0);

    // Undeliverable replies: listed, then purged through the page after a confirmation.
    const deadReply = (messageId: string) =>
      Buffer.concat([
        Buffer.from('1000:7:expired'),
        encodeOutboundEntry(
          { messageId, replyTo: 'ws:r1:s1', payload: Buffer.from('late'), text: true },
          995,
        ),
      ]);
    await fx.admin.lpush(keys.outboundDead, deadReply('r1'), deadReply('r2'));
    await page.locator('#outbound').getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(async () => (await texts(page, 'outbound-row')).length, { timeout: 5_000 }).toBe(2);
    await page.getByTestId('outbound-purge').click();
    await expect.poll(() => text(page, 'outbound-confirm'), { timeout: 5_000 }).toContain('(2)');
    await page.getByTestId('outbound-confirm-yes').click();
    await expect.poll(() => text(page, 'outbound-message'), { timeout: 5_000 }).toBe('purged 2');
    expect(await fx.admin.llen(keys.outboundDead)).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a console without a token says it is read-only and offers no action', async () => {
    const prefix = uniquePrefix('cwro');
    const c = await startConsole(fx, testEnv(fx.redis.url, prefix));
    const page = await browser.newPage();
    await page.goto(`${c.url}/`);
    await expect
      .poll(() => text(page, 'read-only'), { timeout: 10_000 })
      .toBe('read-only: REDISPATCH_CONSOLE_TOKEN is not set');
    expect(await page.getByTestId('dlq-purge').isDisabled()).toBe(true);
    expect(await page.getByTestId('dlq-replay').isDisabled()).toBe(true);
    expect(await page.getByTestId('outbound-purge').isDisabled()).toBe(true);
    expect(await page.getByTestId('token').count()).toBe(0);
    await page.close();
  });
});
