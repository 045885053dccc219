import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_TESTS, launchChromium } from '../helpers/browser.js';
import { startConsole } from '../helpers/console-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// Per-worker throughput and latency in /api/events, scraped by the console from real workers'
// /metrics while traffic flows; a stopped worker is "unreachable" and the stream keeps ticking.
const fx = useProcessFixture();
const CHECKER = fileURLToPath(new URL('../fixtures/checker-handler.mjs', import.meta.url));

type Json = Record<string, unknown>;
interface Scrape {
  state: string;
  handledPerSec?: number | null;
  latency?: { p50: number; p99: number; source: string } | null;
  error?: string;
}

let browser: Browser | undefined;
beforeAll(async () => {
  if (BROWSER_TESTS) browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
});

/** Reads snapshot events until `done` says so (or `max` events passed); returns the last one. */
async function snapshotUntil(base: string, max: number, done: (s: Json) => boolean): Promise<Json> {
  const res = await fetch(`${base}/api/events`);
  const reader = res.body?.getReader();
  if (!reader) throw new Error('no event stream body');
  let text = '';
  let last: Json = {};
  let seen = 0;
  try {
    while (seen < max) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      text += Buffer.from(value).toString();
      const frames = text.split('\n\n');
      text = frames.pop() ?? '';
      for (const frame of frames) {
        const data = /^event: snapshot\ndata: (.*)$/m.exec(frame)?.[1];
        if (!data) continue;
        seen++;
        last = JSON.parse(data) as Json;
        if (done(last)) return last;
      }
    }
  } finally {
    await reader.cancel();
  }
  return last;
}

describe('console: per-worker throughput and latency from the workers /metrics', () => {
  it('shows handled/s > 0 and ordered p50/p99 per worker while traffic flows; a stopped worker is unreachable', async () => {
    const prefix = uniquePrefix('cwm');
    const env = {
      ...testEnv(fx.redis.url, prefix, {
        REDISPATCH_METRICS_PORT: '0',
        REDISPATCH_METRICS_HOST: '127.0.0.1',
      }),
      CHECK_DIR: fx.tempDir('cwm'),
      CHECK_DELAY_MS: '3',
    };
    fx.spawn(['dispatcher', '--instance-id', `${prefix}-d1`], env);
    const ids = [`${prefix}-w1`, `${prefix}-w2`];
    const workers = ids.map((id) => fx.spawn(['worker', '--instance-id', id, '--handler', CHECKER], env));
    await Promise.all(workers.map((w) => w.waitForLog(/worker registered/)));
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(1);
    const c = await startConsole(fx, env);

    // Steady traffic (about 100 messages a second) for as long as the test reads.
    let seq = 0;
    const traffic = setInterval(() => {
      for (let i = 0; i < 10; i++) void fx.admin.publish(env.REDISPATCH_CHANNEL, `run:${seq++}:x`);
    }, 100);
    try {
      const scrapes = (s: Json) => (s.workerMetrics ?? {}) as Record<string, Scrape>;
      const flowing = (s: Json) =>
        ids.every((id) => {
          const w = scrapes(s)[id];
          return w?.state === 'ok' && (w.handledPerSec ?? 0) > 0 && w.latency != null;
        }) && s.latency != null;
      const live = await snapshotUntil(c.url, 30, flowing);
      expect(flowing(live)).toBe(true);
      for (const id of ids) {
        const latency = scrapes(live)[id]?.latency;
        if (!latency) throw new Error(`no latency for ${id}`);
        expect(latency.p50).toBeGreaterThan(0);
        expect(latency.p50).toBeLessThanOrEqual(latency.p99);
      }
      const total = live.latency as { p50: number; p99: number };
      expect(total.p50).toBeLessThanOrEqual(total.p99);
      // GET /api/stats stays exactly `stats --json`: none of the scraped fields.
      const stats = (await (await fetch(`${c.url}/api/stats`)).json()) as Json;
      expect(stats).not.toHaveProperty('workerMetrics');
      expect(stats).not.toHaveProperty('latency');

      // The page: each worker's throughput cell carries a rate.
      if (browser) {
        const page = await browser.newPage();
        await page.goto(`${c.url}/`);
        await expect
          .poll(async () => (await page.getByTestId('worker-throughput').allTextContents()).sort(), {
            timeout: 15_000,
          })
          .toEqual([expect.stringMatching(/^\d+\.\d\/s$/), expect.stringMatching(/^\d+\.\d\/s$/)]);
        await page.close();
      }

      // SIGSTOP one worker: its scrape times out, it shows unreachable, and snapshots keep coming.
      workers[1]?.kill('SIGSTOP');
      const stopped = await snapshotUntil(
        c.url,
        20,
        (s) => scrapes(s)[ids[1] ?? '']?.state === 'unreachable',
      );
      expect(scrapes(stopped)[ids[1] ?? '']).toMatchObject({
        state: 'unreachable',
        error: expect.any(String),
      });
      expect(scrapes(stopped)[ids[0] ?? '']?.state).toBe('ok');
    } finally {
      clearInterval(traffic);
      workers[1]?.kill('SIGCONT');
    }
  });
});
