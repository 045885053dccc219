// Round-trip latency through the relay at a steady rate: N WebSocket clients send frames at R msg/s
// in total for T seconds; each frame goes relay -> PUBLISH -> dispatcher (leader) -> worker (echo
// handler) -> reply queued with the ack -> relay -> the same socket. Starts its own redis-server on a
// free loopback port and real CLI processes (1 dispatcher, 1 worker, 1 relay).
// With --flood F, F more sockets send frames as fast as the relay takes them for the whole run (the
// starvation case: the measured sockets' percentiles beside them show what flow control leaves them).
// Usage (after npm run build): node scripts/relay-latency.mjs [--sockets 50] [--rate 1000] [--seconds 20] [--flood 0]
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort, startRedisProcess } from '@redispatch/testing';
import { WebSocket } from 'ws';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const sockets = arg('sockets', 50);
const rate = arg('rate', 1000);
const seconds = arg('seconds', 20);
const warmupSeconds = arg('warmup', 3);
const floods = arg('flood', 0);
const CLI = fileURLToPath(new URL('../dispatcher/bin/redispatch.js', import.meta.url));
const ECHO = fileURLToPath(new URL('../dispatcher/dist/cli/echo-handler.js', import.meta.url));

const redis = await startRedisProcess();
const relayPort = await freePort();
const env = {
  ...process.env,
  REDISPATCH_REDIS_URL: redis.url,
  REDISPATCH_PREFIX: 'lat',
  REDISPATCH_CHANNEL: 'lat-in',
  REDISPATCH_METRICS_PORT: '-1',
  REDISPATCH_LOG_LEVEL: 'warn',
  REDISPATCH_RELAY_PORT: String(relayPort),
  REDISPATCH_RELAY_HOST: '127.0.0.1',
  REDISPATCH_RELAY_HTTP: 'false',
};
const children = [];
const start = (args, extra = {}) => {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...extra }, stdio: 'inherit' });
  children.push(child);
  return child;
};
const stopAll = async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', resolve);
          c.kill('SIGTERM');
        }),
    ),
  );
  await redis.stop();
};
start(['dispatcher']);
start(['worker', '--handler', ECHO, '--concurrency', '64'], { REDISPATCH_INSTANCE_ID: 'lat-worker' });
start(['relay'], { REDISPATCH_INSTANCE_ID: 'lat-relay' });

async function connectWithRetry() {
  for (let i = 0; ; i++) {
    try {
      return await new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${relayPort}/`);
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    } catch (error) {
      if (i > 100) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const clients = [];
for (let i = 0; i < sockets; i++) clients.push(await connectWithRetry());
// Wait until a probe round trip works (leader elected, worker registered).
await new Promise((resolve) => {
  const probe = clients[0];
  const send = () => probe.send('probe');
  const timer = setInterval(send, 200);
  probe.once('message', () => {
    clearInterval(timer);
    resolve();
  });
  send();
});

// Flooders: keep their socket's send buffer topped up; the relay decides how fast it reads them.
let flooding = true;
let floodSent = 0;
let floodReplies = 0;
const flooders = [];
for (let i = 0; i < floods; i++) {
  const ws = await connectWithRetry();
  ws.on('message', () => {
    floodReplies += 1;
  });
  flooders.push(ws);
}
const pumpFlood = () => {
  if (!flooding) return;
  for (const ws of flooders)
    for (let n = 0; n < 500 && ws.bufferedAmount < 1_048_576; n++) {
      ws.send(`flood${floodSent}`);
      floodSent += 1;
    }
  setImmediate(pumpFlood);
};
pumpFlood();

const sent = new Map();
const samples = [];
let measuring = false;
let received = 0;
let seq = 0;
for (const ws of clients)
  ws.on('message', (data) => {
    const key = data.toString();
    const at = sent.get(key);
    if (at === undefined) return;
    sent.delete(key);
    received += 1;
    if (measuring) samples.push(performance.now() - at);
  });

// A steady rate: one frame every 1000/rate ms on average, spread over the sockets round-robin,
// scheduled against the clock (not setInterval drift).
const intervalMs = 1000 / rate;
const total = Math.round(rate * (warmupSeconds + seconds));
const t0 = performance.now();
await new Promise((resolve) => {
  const tick = () => {
    const due = Math.min(total, Math.floor((performance.now() - t0) / intervalMs) + 1);
    measuring = performance.now() - t0 >= warmupSeconds * 1000;
    while (seq < due) {
      const key = `m${seq}`;
      sent.set(key, performance.now());
      clients[seq % clients.length].send(key);
      seq += 1;
    }
    if (seq >= total) resolve();
    else setTimeout(tick, Math.max(1, intervalMs));
  };
  tick();
});
flooding = false;
const deadline = performance.now() + 10_000;
while (sent.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
measuring = false;

samples.sort((a, b) => a - b);
const pct = (p) =>
  samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? Number.NaN;
const fmt = (ms) => `${ms.toFixed(2)} ms`;
console.log(
  JSON.stringify({
    sockets,
    rate,
    seconds,
    sent: seq,
    received,
    missing: sent.size,
    measured: samples.length,
    p50: fmt(pct(50)),
    p90: fmt(pct(90)),
    p99: fmt(pct(99)),
    max: fmt(samples.at(-1) ?? Number.NaN),
    ...(floods > 0 ? { flood: floods, floodSent, floodReplies } : {}),
  }),
);
for (const ws of [...clients, ...flooders]) ws.close();
await stopAll();
process.exit(sent.size === 0 ? 0 : 1);
