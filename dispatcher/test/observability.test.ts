import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import {
  type Family,
  probe,
  promtoolCheckMetrics,
  readyz,
  sampleValue,
  scrape,
} from './helpers/metrics-probe.js';
import { type PrometheusHandle, startPrometheus } from './helpers/prometheus-server.js';

const ALERTS_FILE = fileURLToPath(new URL('../../deploy/prometheus/alerts.yml', import.meta.url));

/** The metric contract (issue 5): family name -> type, per role. */
const DISPATCHER_FAMILIES = {
  redispatch_leader: 'gauge',
  redispatch_leader_epoch: 'gauge',
  redispatch_elections_total: 'counter',
  redispatch_stepdowns_total: 'counter',
  redispatch_messages_received_total: 'counter',
  redispatch_messages_dispatched_total: 'counter',
  redispatch_messages_redelivered_total: 'counter',
  redispatch_messages_dead_lettered_total: 'counter',
  redispatch_dispatch_batch_size: 'histogram',
  redispatch_dispatch_duration_seconds: 'histogram',
  redispatch_backlog_messages: 'gauge',
  redispatch_delayed_messages: 'gauge',
  redispatch_inflight_messages: 'gauge',
  redispatch_worker_queue_messages: 'gauge',
  redispatch_live_workers: 'gauge',
  redispatch_flow_paused: 'gauge',
  redispatch_flow_released_total: 'counter',
  redispatch_flow_key_held_total: 'counter',
  redispatch_flow_keys_waiting: 'gauge',
  redispatch_schedule_runs_total: 'counter',
  redispatch_schedule_lag_seconds: 'histogram',
  redispatch_standby_buffer_messages: 'gauge',
  redispatch_failover_replayed_total: 'counter',
} as const;

const WORKER_FAMILIES = {
  redispatch_messages_acked_total: 'counter',
  redispatch_messages_nacked_total: 'counter',
  redispatch_handler_duration_seconds: 'histogram',
  redispatch_end_to_end_latency_seconds: 'histogram',
  redispatch_worker_inflight: 'gauge',
} as const;

let server: RedisHandle;
const extraRedis: RedisHandle[] = [];
const processes: CliProcess[] = [];
const dirs: string[] = [];
let prometheus: PrometheusHandle | undefined;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await prometheus?.stop();
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await Promise.all([server, ...extraRedis].map((redis) => redis?.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string>): CliProcess {
  const proc = spawnCli(args, env);
  processes.push(proc);
  return proc;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'redispatch-obs-'));
  dirs.push(dir);
  return dir;
}

/** testEnv with the metrics server on, on loopback. */
function envWithMetrics(
  redisUrl: string,
  prefix: string,
  port: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...testEnv(redisUrl, prefix),
    REDISPATCH_METRICS_PORT: String(port),
    REDISPATCH_METRICS_HOST: '127.0.0.1',
    ...extra,
  };
}

/** The last lines a process printed, labelled, for failure messages. */
function tail(label: string, proc: CliProcess, chars = 1_500): string {
  return `--- ${label} (pid ${proc.pid}) output tail:\n${proc.output().slice(-chars)}`;
}

/** Runs `check`; if it throws, adds the processes' output to the message. */
async function explained<T>(check: () => Promise<T>, context: () => string): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n${context()}`;
    throw error;
  }
}

async function exitWithin(proc: CliProcess, ms: number, label: string) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${label} did not exit within ${ms} ms\n${tail(label, proc)}`)),
      ms,
    );
  });
  try {
    return await Promise.race([proc.exited(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `read` until `ok` holds (usable in hooks, where expect.poll is not); the error shows the last
 * value and `context()`.
 */
async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  context: () => string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${String(last)}\n${context()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls a process's /readyz until it reports `expected` ("<status> <state>"). */
async function untilReady(port: number, expected: string, proc: CliProcess, label: string, timeout = 15_000) {
  await waitFor(
    `${label} /readyz to answer "${expected}"`,
    () => readyz(port),
    (answer) => answer === expected,
    () => tail(label, proc),
    timeout,
  );
}

/** A scraped value, or undefined while the process does not answer. */
async function metric(port: number, name: string, labels: Record<string, string> = {}) {
  try {
    return sampleValue((await scrape(port)).families, name, labels);
  } catch {
    return undefined;
  }
}

/** Seconds in a Prometheus duration such as "30s", "2m", "1h30m". */
function durationSeconds(text: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400 };
  let total = 0;
  for (const [, amount, unit = 's'] of text.matchAll(/(\d+)(ms|s|m|h|d)/g))
    total += Number(amount) * (units[unit] ?? 0);
  return total;
}

describe('metrics, health and readiness of a live cluster (leader, standby, worker)', () => {
  const ports = { leader: 0, standby: 0, worker: 0 };
  const procs: Record<'leader' | 'standby' | 'worker', CliProcess | undefined> = {
    leader: undefined,
    standby: undefined,
    worker: undefined,
  };
  const published = 500;
  const context = () =>
    Object.entries(procs)
      .map(([label, proc]) => (proc ? tail(label, proc) : ''))
      .join('\n');

  beforeAll(async () => {
    const prefix = uniquePrefix('obs');
    ports.leader = await freePort();
    ports.standby = await freePort();
    ports.worker = await freePort();
    const dir = tempDir();
    procs.leader = start(['dispatcher'], envWithMetrics(server.url, prefix, ports.leader));
    await untilReady(ports.leader, '200 leading', procs.leader, 'leader');
    // Started after the leader has the lease, so it is the standby.
    procs.standby = start(['dispatcher'], envWithMetrics(server.url, prefix, ports.standby));
    procs.worker = start(
      ['worker', '--handler', CHECKER_HANDLER],
      envWithMetrics(server.url, prefix, ports.worker, { CHECK_DIR: dir }),
    );
    await untilReady(ports.standby, '200 standby', procs.standby, 'standby');
    await untilReady(ports.worker, '200 running', procs.worker, 'worker');
    // The leader's reaper must see the worker before load, or messages wait in the backlog.
    await waitFor(
      'the leader to see 1 live worker',
      () => metric(ports.leader, 'redispatch_live_workers'),
      (n) => n === 1,
      context,
      10_000,
    );

    const publish = await runCli(
      ['publish', '--count', String(published), '--rate', '2000', '--run-id', 'obs'],
      testEnv(server.url, prefix),
    );
    expect(publish.code, publish.output).toBe(0);
    await waitFor(
      `the worker to ack ${published} messages`,
      () => metric(ports.worker, 'redispatch_messages_acked_total'),
      (n) => (n ?? 0) >= published,
      context,
    );
    // Settled and reaped: the leader's in-flight gauge is back to 0.
    await waitFor(
      "the leader's in-flight gauge to return to 0",
      () => metric(ports.leader, 'redispatch_inflight_messages'),
      (n) => n === 0,
      context,
      10_000,
    );
  }, 45_000);

  it('answers /readyz, /healthz and unknown paths on the leader, the standby and a worker', async () => {
    const expectations = [
      { label: 'leader', port: ports.leader, state: 'leading' },
      { label: 'standby', port: ports.standby, state: 'standby' },
      { label: 'worker', port: ports.worker, state: 'running' },
    ];
    for (const { label, port, state } of expectations) {
      const ready = await probe(port, '/readyz');
      expect(ready.status, `${label} /readyz: ${ready.body}`).toBe(200);
      expect(ready.json, `${label} /readyz`).toEqual({ ready: true, state });

      const health = await probe(port, '/healthz');
      expect(health.status, `${label} /healthz: ${health.body}`).toBe(200);
      expect(health.json?.alive, `${label} /healthz`).toBe(true);

      const unknown = await probe(port, '/metricz');
      expect(unknown.status, `${label} /metricz`).toBe(404);
      expect(unknown.body, `${label} 404 body`).toMatch(/\/metrics/);

      // Query strings do not change the route.
      expect((await probe(port, '/readyz?verbose=1')).status, `${label} /readyz?verbose=1`).toBe(200);
      const metrics = await probe(port, '/metrics');
      expect(metrics.status, `${label} /metrics`).toBe(200);
      expect(metrics.body, `${label} /metrics`).toMatch(/^# HELP /m);
    }
  });

  it('passes `promtool check metrics` on every role after load (project metrics: no complaints at all)', async () => {
    const tolerated = new Set<string>();
    for (const [label, port] of Object.entries(ports)) {
      const { text } = await scrape(port);
      const verdict = promtoolCheckMetrics(text);
      // Our own families must lint clean; prom-client's default process_*/nodejs_* metrics are not ours
      // (e.g. nodejs_active_handles_total is a gauge with a _total suffix) and are only reported.
      expect(
        verdict.ours,
        `promtool complaints about project metrics in the ${label}'s /metrics:\n${verdict.ours.join('\n')}`,
      ).toEqual([]);
      expect(
        [0, 3],
        `promtool exited ${verdict.status} on the ${label}'s /metrics:\n${verdict.complaints.join('\n')}`,
      ).toContain(verdict.status);
      for (const line of verdict.defaults) tolerated.add(line);
    }
    console.info(
      `promtool check metrics: leader, standby, worker clean for redispatch_*; ` +
        `${tolerated.size} tolerated default-metric lint(s)${tolerated.size ? `: ${[...tolerated].join('; ')}` : ''}`,
    );
  });

  it('exports every contract family from the right role, cluster-wide gauges from the leader only', async () => {
    const leader = (await scrape(ports.leader)).families;
    const standby = (await scrape(ports.standby)).families;
    const worker = (await scrape(ports.worker)).families;

    const declared = (families: Map<string, Family>, contract: Record<string, string>) =>
      Object.entries(contract)
        .filter(([name, type]) => families.get(name)?.type !== type)
        .map(([name, type]) => `${name} (want # TYPE ${type}, got ${families.get(name)?.type ?? 'nothing'})`);
    const foreign = (families: Map<string, Family>, contract: Record<string, string>) =>
      Object.keys(contract).filter((name) => families.has(name));
    // Labelled families get series only once something happened (no step-down yet; a standby neither
    // reaps nor sees workers), so those may have none yet; every other family must have samples.
    const withoutSamples = (
      families: Map<string, Family>,
      contract: Record<string, string>,
      lazy: string[],
    ) => Object.keys(contract).filter((name) => !lazy.includes(name) && !families.get(name)?.samples.length);

    expect(declared(leader, DISPATCHER_FAMILIES), 'leader: missing or mistyped').toEqual([]);
    expect(declared(standby, DISPATCHER_FAMILIES), 'standby: missing or mistyped').toEqual([]);
    expect(declared(worker, WORKER_FAMILIES), 'worker: missing or mistyped').toEqual([]);
    expect(foreign(leader, WORKER_FAMILIES), 'worker families on the leader').toEqual([]);
    expect(foreign(worker, DISPATCHER_FAMILIES), 'dispatcher families on the worker').toEqual([]);
    expect(
      // Its {schedule} series appear with a schedule's first tick (no schedule here).
      withoutSamples(leader, DISPATCHER_FAMILIES, [
        'redispatch_stepdowns_total',
        'redispatch_schedule_runs_total',
      ]),
      'leader families without samples',
    ).toEqual([]);
    expect(
      withoutSamples(standby, DISPATCHER_FAMILIES, [
        'redispatch_stepdowns_total',
        // Its {reason} series are created by the leader's reaper; a standby never reaped.
        'redispatch_messages_redelivered_total',
        'redispatch_worker_queue_messages',
        'redispatch_schedule_runs_total',
      ]),
      'standby families without samples',
    ).toEqual([]);
    expect(withoutSamples(worker, WORKER_FAMILIES, []), 'worker families without samples').toEqual([]);

    // Every project sample carries the process's role label.
    for (const [label, families, role] of [
      ['leader', leader, 'dispatcher'],
      ['standby', standby, 'dispatcher'],
      ['worker', worker, 'worker'],
    ] as const) {
      const unlabelled = [...families.values()]
        .filter((f) => f.name.startsWith('redispatch_'))
        .flatMap((f) => f.samples)
        .filter((s) => s.labels.role !== role)
        .map((s) => s.name);
      expect(unlabelled, `${label} samples without role="${role}"`).toEqual([]);
    }

    const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) =>
      sampleValue(families, name, labels);
    // The leader: leads, routed everything, and exports the cluster-wide gauges.
    expect(value(leader, 'redispatch_leader')).toBe(1);
    expect(value(leader, 'redispatch_leader_epoch')).toBeGreaterThanOrEqual(1);
    expect(value(leader, 'redispatch_elections_total')).toBe(1);
    expect(value(leader, 'redispatch_messages_received_total')).toBe(published);
    expect(value(leader, 'redispatch_messages_dispatched_total')).toBeGreaterThanOrEqual(published);
    expect(value(leader, 'redispatch_dispatch_batch_size_sum')).toBeGreaterThanOrEqual(published);
    expect(value(leader, 'redispatch_dispatch_duration_seconds_count')).toBeGreaterThan(0);
    expect(value(leader, 'redispatch_live_workers')).toBe(1);
    expect(leader.get('redispatch_worker_queue_messages')?.samples).toEqual([
      {
        name: 'redispatch_worker_queue_messages',
        labels: { worker: expect.any(String), role: 'dispatcher' },
        value: 0,
      },
    ]);
    expect(value(leader, 'redispatch_backlog_messages')).toBe(0);
    expect(value(leader, 'redispatch_delayed_messages')).toBe(0);
    expect(value(leader, 'redispatch_standby_buffer_messages')).toBe(0);
    for (const reason of ['timeout', 'worker_lost']) {
      expect(value(leader, 'redispatch_messages_redelivered_total', { reason }), reason).toBeTypeOf('number');
    }

    // The standby: not leading, routes nothing, cluster-wide gauges at 0 so sums are not double counted.
    expect(value(standby, 'redispatch_leader')).toBe(0);
    expect(value(standby, 'redispatch_leader_epoch')).toBe(0);
    expect(value(standby, 'redispatch_elections_total')).toBe(0);
    expect(value(standby, 'redispatch_messages_received_total')).toBe(0);
    expect(value(standby, 'redispatch_messages_dispatched_total')).toBe(0);
    expect(value(standby, 'redispatch_live_workers')).toBe(0);
    expect(value(standby, 'redispatch_backlog_messages')).toBe(0);
    expect(value(standby, 'redispatch_inflight_messages')).toBe(0);
    expect(standby.get('redispatch_worker_queue_messages')?.samples ?? []).toEqual([]);
    // The standby buffered what it heard and trims what the leader's marker proves written: once every
    // message is written, its buffer gauge reaches 0 (a standby that never trimmed would stay at `published`).
    await expect
      .poll(
        async () =>
          sampleValue((await scrape(ports.standby)).families, 'redispatch_standby_buffer_messages', {}),
        {
          timeout: 10_000,
          interval: 200,
        },
      )
      .toBe(0);

    // The worker: acked everything; publish stamps envelopes, so every ack has an end-to-end latency.
    const acked = value(worker, 'redispatch_messages_acked_total') ?? 0;
    expect(acked).toBeGreaterThanOrEqual(published);
    expect(value(worker, 'redispatch_messages_nacked_total')).toBe(0);
    expect(value(worker, 'redispatch_handler_duration_seconds_count', { outcome: 'ack' })).toBe(acked);
    expect(value(worker, 'redispatch_end_to_end_latency_seconds_count')).toBe(acked);
    expect(value(worker, 'redispatch_worker_inflight')).toBe(0);
    const e2eSum = value(worker, 'redispatch_end_to_end_latency_seconds_sum') ?? 0;
    console.info(
      `metrics after ${published} messages: leader dispatched ${value(leader, 'redispatch_messages_dispatched_total')} ` +
        `in ${value(leader, 'redispatch_dispatch_batch_size_count')} batches, worker acked ${acked}, ` +
        `mean end-to-end ${((e2eSum / acked) * 1000).toFixed(1)} ms, standby buffer ` +
        `${value(standby, 'redispatch_standby_buffer_messages')}`,
    );
  });

  // KNOWN DEFECT (dispatcher/src/dispatcher.ts, the ingress handler): redispatch_ingress_pending_messages
  // is set only right after a message is added to the batcher (so always >= 1) and at step-down; it is
  // never updated after a batch write, so an idle leader reports its last arrival-time count forever.
  it('drops redispatch_ingress_pending_messages back to 0 once everything received is written', async () => {
    await expect
      .poll(() => metric(ports.leader, 'redispatch_ingress_pending_messages'), { timeout: 2_000 })
      .toBe(0);
  });
});

describe('readiness through shutdown', () => {
  it('reports 503 "stopping" while a leader shuts down (still alive), then exits 0', async () => {
    // Its own Redis, paused with SIGSTOP so the shutdown steps wait on it and the window is wide open.
    const redis = await startRedis();
    extraRedis.push(redis);
    const port = await freePort();
    const proc = start(
      ['dispatcher'],
      envWithMetrics(redis.url, uniquePrefix('stopping'), port, { REDISPATCH_COMMAND_TIMEOUT_MS: '5000' }),
    );
    await untilReady(port, '200 leading', proc, 'dispatcher');

    redis.signal('SIGSTOP');
    let resumed = false;
    try {
      const termAt = performance.now();
      proc.kill('SIGTERM');
      await untilReady(port, '503 stopping', proc, 'dispatcher', 5_000);
      const seenAfter = performance.now() - termAt;
      const ready = await probe(port, '/readyz');
      expect(ready.json).toEqual({ ready: false, state: 'stopping' });
      const health = await probe(port, '/healthz');
      expect(health.status, `/healthz while stopping: ${health.body}`).toBe(200);
      redis.signal('SIGCONT');
      resumed = true;
      const { code } = await exitWithin(proc, 15_000, 'dispatcher');
      expect(code, tail('dispatcher', proc)).toBe(0);
      console.info(
        `dispatcher shutdown: /readyz 503 "stopping" ${seenAfter.toFixed(0)} ms after SIGTERM, ` +
          `exit 0 ${(performance.now() - termAt).toFixed(0)} ms after SIGTERM (Redis paused until the probes were done)`,
      );
    } finally {
      if (!resumed) redis.signal('SIGCONT');
    }
  }, 40_000);

  it('reports 503 "draining" while a worker finishes its in-flight handler, then exits 0 having acked it', async () => {
    // Worker TTL at its default (5 s), above the 2 s drain.
    await drainScenario(5_000);
  }, 40_000);

  // Regression test: the heartbeat used to stop when draining started, so a drain longer than
  // REDISPATCH_WORKER_TTL_MS got the worker declared dead mid-drain (worker_lost redelivery, its ack
  // refused as stale, the message handled twice). The worker now heartbeats until its drain ends.
  it('keeps a worker alive while it drains for longer than the worker TTL (no worker_lost redelivery)', async () => {
    await drainScenario(1_000);
  }, 40_000);
});

/**
 * One dispatcher, one worker whose handler blocks 2 s; one message; SIGTERM the worker mid-handler.
 * Checks /readyz 503 "draining" and /healthz 200 during the drain, exit 0, and that the message was
 * acked by that worker: nothing in flight, nothing redelivered, nothing back in the backlog.
 */
async function drainScenario(workerTtlMs: number): Promise<void> {
  const prefix = uniquePrefix('draining');
  const dir = tempDir();
  const dispatcherPort = await freePort();
  const workerPort = await freePort();
  // The ack timeout is well above the handler's 2 s, so only a lost worker could cause a redelivery.
  const extra = {
    REDISPATCH_ACK_TIMEOUT_MS: '15000',
    REDISPATCH_DRAIN_TIMEOUT_MS: '10000',
    REDISPATCH_WORKER_TTL_MS: String(workerTtlMs),
  };
  const dispatcher = start(['dispatcher'], envWithMetrics(server.url, prefix, dispatcherPort, extra));
  const worker = start(
    ['worker', '--handler', CHECKER_HANDLER],
    envWithMetrics(server.url, prefix, workerPort, { ...extra, CHECK_DIR: dir, CHECK_DELAY_MS: '2000' }),
  );
  const context = () => `${tail('dispatcher', dispatcher)}\n${tail('worker', worker)}`;
  await untilReady(dispatcherPort, '200 leading', dispatcher, 'dispatcher');
  await untilReady(workerPort, '200 running', worker, 'worker');
  await explained(
    () => expect.poll(() => metric(dispatcherPort, 'redispatch_live_workers'), { timeout: 10_000 }).toBe(1),
    context,
  );

  const publish = await runCli(['publish', '--count', '1', '--run-id', 'drain'], testEnv(server.url, prefix));
  expect(publish.code, publish.output).toBe(0);
  await explained(
    () =>
      expect
        .poll(() => metric(workerPort, 'redispatch_worker_inflight'), { timeout: 5_000, interval: 25 })
        .toBe(1),
    context,
  );

  const termAt = performance.now();
  worker.kill('SIGTERM');
  await untilReady(workerPort, '503 draining', worker, 'worker', 5_000);
  const seenAfter = performance.now() - termAt;
  expect((await probe(workerPort, '/readyz')).json).toEqual({ ready: false, state: 'draining' });
  expect((await probe(workerPort, '/healthz')).status, '/healthz while draining').toBe(200);
  // Still draining a moment later: it waits for the handler, it does not drop it.
  expect(await metric(workerPort, 'redispatch_worker_inflight')).toBe(1);

  const { code } = await exitWithin(worker, 15_000, 'worker');
  const drainedAfter = performance.now() - termAt;
  expect(code, tail('worker', worker)).toBe(0);
  expect(checkRun(dir, 'drain', 1)).toMatchObject({ handled: 1, lost: 0, duplicates: 0 });
  // Acked before exit: after the leader's next reaps nothing is in flight, redelivered or waiting.
  await explained(
    () =>
      expect.poll(() => metric(dispatcherPort, 'redispatch_inflight_messages'), { timeout: 5_000 }).toBe(0),
    context,
  );
  const leader = (await scrape(dispatcherPort)).families;
  expect(
    {
      worker_lost: sampleValue(leader, 'redispatch_messages_redelivered_total', { reason: 'worker_lost' }),
      timeout: sampleValue(leader, 'redispatch_messages_redelivered_total', { reason: 'timeout' }),
      backlog: sampleValue(leader, 'redispatch_backlog_messages'),
    },
    `redeliveries and backlog after a ${(drainedAfter / 1000).toFixed(1)} s drain with worker TTL ${workerTtlMs} ms`,
  ).toEqual({
    worker_lost: 0,
    timeout: 0,
    backlog: 0,
  });
  console.info(
    `worker drain (TTL ${workerTtlMs} ms): /readyz 503 "draining" ${seenAfter.toFixed(0)} ms after SIGTERM, ` +
      `exit 0 after ${drainedAfter.toFixed(0)} ms (handler blocks 2000 ms)`,
  );
}

describe('with a real Prometheus', () => {
  it('scrapes both roles, sees traffic, and raises RedispatchNoLeader when the only dispatcher dies', async () => {
    const prefix = uniquePrefix('prom');
    const dir = tempDir();
    const dispatcherPort = await freePort();
    const workerPort = await freePort();
    const dispatcher = start(['dispatcher'], envWithMetrics(server.url, prefix, dispatcherPort));
    const worker = start(
      ['worker', '--handler', CHECKER_HANDLER],
      envWithMetrics(server.url, prefix, workerPort, { CHECK_DIR: dir }),
    );
    await untilReady(dispatcherPort, '200 leading', dispatcher, 'dispatcher');
    await untilReady(workerPort, '200 running', worker, 'worker');

    const noLeaderRule = (
      parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: { alert?: string; for?: string }[] }[] }
    ).groups
      .flatMap((g) => g.rules)
      .find((r) => r.alert === 'RedispatchNoLeader');
    expect(noLeaderRule, `RedispatchNoLeader in ${ALERTS_FILE}`).toBeDefined();
    const forSeconds = durationSeconds(noLeaderRule?.for ?? '0s');

    const targets = { dispatcher: `127.0.0.1:${dispatcherPort}`, worker: `127.0.0.1:${workerPort}` };
    const startedAt = performance.now();
    const prom = await startPrometheus({ targets: Object.values(targets), ruleFiles: [ALERTS_FILE] });
    prometheus = prom;
    const context = () =>
      `${tail('dispatcher', dispatcher, 800)}\n${tail('worker', worker, 800)}\n--- prometheus log tail:\n${prom.logs().slice(-2_000)}`;
    const scalar = async (expr: string) => (await prom.query(expr))[0]?.value;
    const noLeader = async () =>
      (await prom.alerts())
        .filter((a) => a.labels.alertname === 'RedispatchNoLeader')
        .map((a) => a.state)
        .join(',') || 'inactive';

    // Prometheus reloads its targets up to ~5 s after start; the first scrapes come then.
    await explained(
      () =>
        expect
          .poll(
            async () => Object.fromEntries((await prom.query('up')).map((s) => [s.metric.instance, s.value])),
            { timeout: 20_000, interval: 250 },
          )
          .toEqual({ [targets.dispatcher]: 1, [targets.worker]: 1 }),
      context,
    );
    const upAfter = performance.now() - startedAt;

    // Load across several scrapes, so rate() has two increasing samples in its window.
    const publish = await runCli(
      ['publish', '--count', '1500', '--rate', '500', '--run-id', 'prom'],
      testEnv(server.url, prefix),
    );
    expect(publish.code, publish.output).toBe(0);
    await explained(async () => {
      await expect
        .poll(() => scalar('sum(rate(redispatch_messages_dispatched_total[15s]))'), {
          timeout: 10_000,
          interval: 250,
        })
        .toBeGreaterThan(0);
      await expect
        .poll(() => scalar('sum(redispatch_messages_acked_total)'), { timeout: 10_000, interval: 250 })
        .toBeGreaterThan(0);
      // With a leader scraped, the no-leader alert (pending since before the first scrape) is gone.
      await expect.poll(noLeader, { timeout: 10_000, interval: 250 }).toBe('inactive');
    }, context);
    const rate = await scalar('sum(rate(redispatch_messages_dispatched_total[15s]))');
    const p99 = await scalar(
      'histogram_quantile(0.99, sum by (le) (rate(redispatch_end_to_end_latency_seconds_bucket[15s])))',
    );

    const killAt = performance.now();
    dispatcher.kill('SIGKILL');
    // `for: 30s` is beyond this test's budget: pending proves the expression; firing needs only time.
    const waitForFiring = forSeconds <= 5;
    await explained(
      () =>
        expect
          .poll(noLeader, { timeout: 15_000 + (waitForFiring ? forSeconds * 1000 : 0), interval: 200 })
          .toMatch(waitForFiring ? /^firing$/ : /^(pending|firing)$/),
      context,
    );
    const alertAfter = performance.now() - killAt;
    expect(Object.fromEntries((await prom.query('up')).map((s) => [s.metric.instance, s.value]))).toEqual({
      [targets.dispatcher]: 0,
      [targets.worker]: 1,
    });
    console.info(
      `prometheus: targets up ${(upAfter / 1000).toFixed(1)} s after start; dispatched rate ${rate?.toFixed(0)}/s ` +
        `(15 s window), e2e p99 ${p99 === undefined ? 'n/a' : `${(p99 * 1000).toFixed(1)} ms`}; ` +
        `RedispatchNoLeader ${await noLeader()} ${(alertAfter / 1000).toFixed(1)} s after SIGKILL (for: ${noLeaderRule?.for})`,
    );
  }, 50_000);
});
