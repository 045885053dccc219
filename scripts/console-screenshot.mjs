// Takes docs/images/console.png: the console page (docs/console.md) of a small live deployment in
// headless Chromium. Starts its own redis-server on a free loopback port and real CLI processes
// (3 dispatchers, 2 workers with the demo handler, 1 relay, the console), publishes a steady load
// and a few oversize bodies (dead letters, one of them markup, shown as text), then shoots.
// Usage (after npm run build; needs /usr/bin/chromium or REDISPATCH_CHROMIUM):
//   node scripts/console-screenshot.mjs [--out docs/images/console.png]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';

const outIndex = process.argv.indexOf('--out');
const out =
  outIndex > 0
    ? process.argv[outIndex + 1]
    : fileURLToPath(new URL('../docs/images/console.png', import.meta.url));
const CLI = fileURLToPath(new URL('../dispatcher/bin/redispatch.js', import.meta.url));
const DEMO = fileURLToPath(new URL('../dispatcher/dist/cli/demo-handler.js', import.meta.url));
const TOKEN = 'screenshot-token-0123456789';

const redis = await startRedisProcess();
const consolePort = await freePort();
const env = {
  ...process.env,
  REDISPATCH_REDIS_URL: redis.url,
  REDISPATCH_PREFIX: 'shop',
  REDISPATCH_CHANNEL: 'shop-in',
  REDISPATCH_METRICS_PORT: '-1',
  REDISPATCH_LOG_LEVEL: 'warn',
  REDISPATCH_MAX_PAYLOAD_BYTES: '256',
  REDISPATCH_RELAY_HOST: '127.0.0.1',
  REDISPATCH_RELAY_HTTP: 'false',
};
const children = [];
const start = (args, extra = {}) => {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...extra }, stdio: 'inherit' });
  children.push(child);
  return child;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const run = (args) => new Promise((resolve) => start(args).once('exit', resolve));

try {
  for (const n of [1, 2, 3]) start(['dispatcher', '--instance-id', `dispatcher-${n}`]);
  // Quiet: the demo handler's simulated failures would fill the terminal. Workers serve /metrics
  // (free ports) so the console shows their throughput and latency.
  for (const n of [1, 2])
    start(['worker', '--instance-id', `worker-${n}`, '--handler', DEMO, '--concurrency', '32'], {
      REDISPATCH_LOG_LEVEL: 'error',
      REDISPATCH_METRICS_PORT: '0',
      REDISPATCH_METRICS_HOST: '127.0.0.1',
    });
  start(['relay', '--instance-id', 'relay-1', '--relay-port', String(await freePort())]);
  await sleep(3_000);
  start(['console', '--console-port', String(consolePort)], {
    REDISPATCH_CONSOLE_TOKEN: TOKEN,
    REDISPATCH_LOG_LEVEL: 'info',
  });
  const load = run(['publish', '--count', '24000', '--rate', '600', '--size', '120', '--channel', 'shop-in']);
  await sleep(2_000);
  // Oversize bodies: dead-lettered with reason "oversize"; the newest is markup (shown as text).
  await run(['publish', '--count', '2', '--size', '400', '--no-timestamp', '--channel', 'shop-in']);
  const publisher = new Redis(redis.url);
  const markup = `<script>alert("not run")</script><img src=x onerror=alert(1)> ${'{"order":42} '.repeat(20)}`;
  await publisher.publish('shop-in', markup);
  publisher.disconnect();

  const browser = await chromium.launch({
    executablePath: process.env.REDISPATCH_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`http://127.0.0.1:${consolePort}/`);
  await page.getByTestId('leader-id').waitFor({ timeout: 15_000 });
  await sleep(20_000);
  await page.getByTestId('token').fill(TOKEN);
  await page.getByTestId('dlq-view').first().click();
  await page.screenshot({ path: out, fullPage: true });
  await browser.close();
  console.log(`wrote ${out}`);
  await load;
} finally {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await sleep(1_500);
  await redis.stop();
}
