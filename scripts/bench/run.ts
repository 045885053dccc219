/**
 * `npm run bench [-- --quick] [--only throughput,latency,rss,failover,memory] [--reps N]
 *  [--workers 1,2,4] [--concurrency N] [--cpu-prof]`
 *
 * Starts every redis-server and process it measures (loopback only, bounded loads), runs the
 * scenarios, prints tables, and writes bench-results/<stamp>.json and bench-results/<stamp>.svg.
 * Method and caveats: scripts/bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { mergeHistograms, newHistogram, summarize } from './lib/hist.js';
import { REPO, RESULTS_DIR } from './lib/paths.js';
import { mergeDelivery } from './lib/payload.js';
import { killAllNow, rssBytes, spawnedProcesses, stopAll } from './lib/procs.js';
import { commandStats, commandStatsDelta, redisCpuSeconds, usedMemory } from './lib/redis.js';
import {
  type FailoverResult,
  type LatencyResult,
  type MemoryResult,
  type Report,
  type RssResult,
  renderMarkdown,
  renderSvg,
  renderTerminal,
  type ThroughputResult,
} from './lib/report.js';
import { CounterSampler } from './lib/sampler.js';
import {
  BullMQ,
  RawLoop,
  Redispatch,
  type StartOptions,
  type System,
  type SystemName,
  startSystem,
} from './lib/systems.js';
import { errorText, median, nowUs, round, runId, sleep } from './lib/util.js';

// ------------------------------------------------------------------------------------ options

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('quick');
const PHASES = ['throughput', 'latency', 'rss', 'failover', 'memory'] as const;
const only = new Set((value('only') ?? PHASES.join(',')).split(','));
const workerCounts = (value('workers') ?? '1,2,4').split(',').map(Number);
const options = {
  quick,
  reps: only.has('throughput') ? Number(value('reps') ?? (quick ? 1 : 3)) : 1,
  workerCounts,
  /** Peers are measured at these worker counts (quick: only the latency configuration). */
  peerWorkerCounts: quick ? [2] : workerCounts,
  sizes: [100, 4096],
  concurrency: Number(value('concurrency') ?? 100),
  count: (size: number) => {
    const base = Number(value('count') ?? (quick ? 6_000 : 50_000));
    return size > 1000 ? Math.round(base / 2.5) : base;
  },
  warmup: quick ? 1_000 : 3_000,
  latencyWorkers: 2,
  latencySeconds: quick ? 1 : 8,
  peerLatencyAllRates: !quick,
  steadyRate: 2_000,
  steadySeconds: quick ? 1 : 5,
  burstSeconds: quick ? 1 : 3,
  failoverKills: quick ? 2 : 5,
  memoryCount: quick ? 20_000 : 100_000,
  memoryPeers: !quick,
  cpuProf: flag('cpu-prof'),
};

const stamp = new Date()
  .toISOString()
  .replace(/[:.]/g, '-')
  .replace(/-\d{3}Z$/, 'Z');
const logDir = mkdtempSync(join(tmpdir(), 'redispatch-bench-'));
const profDir = join(logDir, 'cpuprof');
if (options.cpuProf) mkdirSync(profDir, { recursive: true });
const startedAt = Date.now();
const log = (text: string) => {
  const t = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${text}\n`);
};

function startOptions(tag: string, workers: number, extra: Partial<StartOptions> = {}): StartOptions {
  return {
    logDir,
    tag,
    workers,
    concurrency: options.concurrency,
    dispatchers: 3,
    nodeArgs: options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : undefined,
    ...extra,
  };
}

// ------------------------------------------------------------------------------------ helpers

async function warmup(system: System): Promise<void> {
  const id = runId('w');
  const base = await system.acked();
  await system.publishFull(id, options.warmup, 100);
  await system.loadDone(30_000);
  await system.waitAcked(base + options.warmup, 30_000);
  await system.dump(id);
}

function cpuPercent(before: Record<string, number>, after: Record<string, number>, seconds: number) {
  const out: Record<string, number> = {};
  for (const [role, cpu] of Object.entries(after))
    out[role] = round((100 * (cpu - (before[role] ?? 0))) / seconds);
  return out;
}

// ------------------------------------------------------------------------------------ 1. throughput

async function throughputRun(system: System, size: number, round_: number): Promise<ThroughputResult> {
  // BullMQ drains ~5x slower: fewer jobs keep its runs as long as the others' (still seconds of steady state).
  const n = system.name === 'bullmq' ? Math.round(options.count(size) / 2.5) : options.count(size);
  const id = runId('t');
  const base = await system.acked();
  const admin = system.redis.admin;
  const [cpu0, redisCpu0, stats0] = [
    await system.cpu(),
    await redisCpuSeconds(admin),
    await commandStats(admin),
  ];
  const wall0 = nowUs();
  const t0 = await system.publishFull(id, n, size);
  const tEnd = await system.waitAcked(base + n, Math.max(60_000, n / 0.5));
  const wall1 = nowUs();
  const [cpu1, redisCpu1, stats1] = [
    await system.cpu(),
    await redisCpuSeconds(admin),
    await commandStats(admin),
  ];
  const done = await system.loadDone(60_000);
  const dumps = await system.dump(id);
  const delivery = mergeDelivery(
    dumps.map((d) => d.counts),
    n,
  );
  const seconds = (tEnd - t0) / 1e6;
  const result: ThroughputResult = {
    system: system.name,
    workers: system.workerCount,
    size,
    round: round_,
    count: n,
    seconds: round(seconds, 3),
    msgPerSec: round(n / seconds),
    publishPerSec: done.t1 ? round(n / ((done.t1 - done.t0) / 1e6)) : Number.NaN,
    redisCpuUsPerMsg: round(((redisCpu1 - redisCpu0) * 1e6) / n, 1),
    cpuPercent: cpuPercent(cpu0, cpu1, (wall1 - wall0) / 1e6),
    cpuUsPerMsg: Object.fromEntries(
      Object.entries(cpu1).map(([role, cpu]) => [role, round(((cpu - (cpu0[role] ?? 0)) * 1e6) / n, 1)]),
    ),
    delivery,
    commandStats: commandStatsDelta(stats0, stats1)
      .slice(0, 10)
      .map((c) => ({ ...c, usecPerMsg: round(c.usec / n, 2), callsPerMsg: round(c.calls / n, 3) })),
  };
  log(
    `  ${system.name} w=${result.workers} ${size}B: ${result.msgPerSec} msg/s (${result.seconds}s), redis ${result.redisCpuUsPerMsg} µs/msg, cpu% ${JSON.stringify(result.cpuPercent)}, cpu µs/msg ${JSON.stringify(result.cpuUsPerMsg)}, lost ${delivery.lost} dup ${delivery.duplicates}`,
  );
  return result;
}

// ------------------------------------------------------------------------------------ 2. latency

async function latencyRun(
  system: System,
  rate: number,
  seconds: number,
  label: string,
): Promise<LatencyResult> {
  const count = Math.max(1, Math.round(rate * seconds));
  const id = runId('l');
  const base = await system.acked();
  const sampler = system.ackCounter
    ? new CounterSampler(system.redis.admin, system.ackCounter.key, system.ackCounter.field, 1).start()
    : undefined;
  const t0 = await system.publishRate(id, count, rate, 100);
  const done = await system.loadDone(seconds * 1000 + 60_000);
  const tEnd = await system.waitAcked(base + count, 60_000);
  await sleep(5);
  await sampler?.stop();
  const dumps = await system.dump(id);
  const handler = mergeHistograms(dumps.map((d) => d.handlerHist));
  let ack = newHistogram();
  let ackMethod = 'completed event per job (exact)';
  if (sampler) {
    const interval = 1e6 / rate;
    sampler.recordAckLatencies(ack, base, count, (k) => Math.round(t0 + k * interval));
    ackMethod = `count matching on the acked counter, polled every ~${round(median(sampler.times.slice(1).map((t, i) => t - (sampler.times[i] as number))) / 1000, 2)} ms`;
  } else ack = mergeHistograms(dumps.map((d) => d.doneHist));
  const delivery = mergeDelivery(
    dumps.map((d) => d.counts),
    done.sent ?? count,
  );
  const result: LatencyResult = {
    system: system.name,
    workers: system.workerCount,
    label,
    offeredRate: rate,
    seconds,
    count,
    achievedRate: round(count / ((tEnd - t0) / 1e6)),
    publisherMaxLagMs: round((done.maxLagUs ?? Number.NaN) / 1000, 2),
    publisherSendLag: summarize(mergeHistograms([done.sendLagHist as string | undefined])),
    handler: summarize(handler),
    ack: summarize(ack),
    ackMethod,
    delivery,
  };
  const h = result.handler;
  const a = result.ack;
  log(
    `  ${system.name} ${label} ${rate} msg/s: achieved ${result.achievedRate}; handler p50/p99/p99.9 ${h ? `${h.p50}/${h.p99}/${h.p999}` : '-'} µs; ack ${a ? `${a.p50}/${a.p99}/${a.p999}` : '-'} µs; lost ${delivery.lost} dup ${delivery.duplicates}`,
  );
  return result;
}

function maxThroughput(report: Report, system: SystemName, workers: number): number {
  return median(
    report.throughput
      .filter((t) => t.system === system && t.workers === workers && t.size === 100)
      .map((t) => t.msgPerSec),
  );
}

async function latencyRates(report: Report, system: Redispatch): Promise<{ rate: number; label: string }[]> {
  let max = maxThroughput(report, 'redispatch', options.latencyWorkers);
  if (!Number.isFinite(max)) {
    log('  no throughput figure for the latency configuration yet: measuring one');
    const probe = await throughputRun(system, 100, 0);
    report.throughput.push(probe);
    max = probe.msgPerSec;
  }
  report.latencyMax = max;
  return [
    { rate: 2_000, label: 'fixed' },
    { rate: Math.round(max * 0.25), label: '25% of max' },
    { rate: Math.round(max * 0.5), label: '50% of max' },
    { rate: Math.round(max * 0.75), label: '75% of max' },
  ];
}

// ------------------------------------------------------------------------------------ 5b. RSS

async function rssPhase(system: Redispatch, report: Report): Promise<void> {
  const sample = async () => {
    const roles = await system.roles();
    const out: Record<string, number> = {};
    for (const { role, pid } of roles) out[role] = Math.max(out[role] ?? 0, rssBytes(pid));
    return out;
  };
  const maxInto = (into: Record<string, number>, s: Record<string, number>) => {
    for (const [role, v] of Object.entries(s)) into[role] = Math.max(into[role] ?? 0, v);
  };
  const phase = async (rate: number, seconds: number) => {
    const count = Math.round(rate * seconds);
    const id = runId('r');
    const base = await system.acked();
    const peak: Record<string, number> = {};
    let peakRedis = 0;
    let last: Record<string, number> = {};
    const t0 = await system.publishRate(id, count, rate, 100);
    let drained = Number.NaN;
    let publishedAt = Number.NaN;
    const donePromise = system.loadDone(seconds * 1000 + 60_000).then((m) => {
      publishedAt = nowUs();
      return m;
    });
    const deadline = Date.now() + seconds * 1000 + 60_000;
    while (Date.now() < deadline) {
      last = await sample();
      maxInto(peak, last);
      peakRedis = Math.max(peakRedis, await usedMemory(system.redis.admin));
      if ((await system.acked()) >= base + count) {
        drained = nowUs();
        break;
      }
      await sleep(100);
    }
    await donePromise;
    await system.dump(id);
    return { t0, count, peak, last, peakRedis, drained, publishedAt };
  };
  log(`rss: steady ${options.steadyRate} msg/s for ${options.steadySeconds}s`);
  const steady = await phase(options.steadyRate, options.steadySeconds);
  const burstRate = options.steadyRate * 10;
  log(`rss: burst ${burstRate} msg/s for ${options.burstSeconds}s`);
  const burst = await phase(burstRate, options.burstSeconds);
  await sleep(1_000);
  const after = await sample();
  const result: RssResult = {
    workers: system.workerCount,
    steadyRate: options.steadyRate,
    burstRate,
    burstSeconds: options.burstSeconds,
    steady: steady.last,
    burstPeak: burst.peak,
    afterDrain: after,
    redisPeakUsedMemory: burst.peakRedis,
    burstDrainSeconds: round((burst.drained - burst.t0) / 1e6, 2),
    burstPublishSeconds: round((burst.publishedAt - burst.t0) / 1e6, 2),
  };
  report.rss = result;
  log(
    `  rss steady ${JSON.stringify(result.steady)} burst ${JSON.stringify(result.burstPeak)} after ${JSON.stringify(result.afterDrain)}`,
  );
}

// ------------------------------------------------------------------------------------ 3. failover

async function failoverPhase(system: Redispatch, report: Report): Promise<void> {
  const admin = system.redis.admin;
  const rate = options.steadyRate;
  const id = runId('f');
  const maxSeconds = options.failoverKills * 12 + 10;
  log(`failover: ${rate} msg/s, ${options.failoverKills} leader SIGKILLs`);
  const t0 = await system.publishRate(id, rate * maxSeconds, rate, 100);
  const done = system.loadDone(maxSeconds * 1000 + 60_000);
  const kills: FailoverResult['kills'] = [];
  const read = async () => {
    const r =
      (await admin.pipeline().hget('{rd}:leader', 'epoch').hget('{rd}:totals', 'dispatched').exec()) ?? [];
    return { epoch: Number(r[0]?.[1] ?? 0), dispatched: Number(r[1]?.[1] ?? 0), at: nowUs() };
  };
  await sleep(1_000);
  for (let k = 0; k < options.failoverKills; k++) {
    const leader = await system.leader();
    if (!leader) {
      report.errors.push('failover: no leader among our dispatchers');
      break;
    }
    const before = await read();
    const killedAt = nowUs();
    leader.kill('SIGKILL');
    system.spawnDispatcher();
    let elected: { epoch: number; dispatched: number; at: number } | undefined;
    let dispatching: { epoch: number; dispatched: number; at: number } | undefined;
    const deadline = killedAt + 30e6;
    while (nowUs() < deadline) {
      const s = await read();
      if (!elected && s.epoch > before.epoch) elected = s;
      if (elected && s.dispatched > elected.dispatched) {
        dispatching = s;
        break;
      }
      await sleep(5);
    }
    const entry = {
      electedMs: elected ? round((elected.at - killedAt) / 1000) : Number.NaN,
      dispatchingMs: dispatching ? round((dispatching.at - killedAt) / 1000) : Number.NaN,
    };
    kills.push(entry);
    log(
      `  kill ${k + 1}: new epoch after ${entry.electedMs} ms, dispatching after ${entry.dispatchingMs} ms`,
    );
    await sleep(1_500);
  }
  system.load.send({ type: 'stop' });
  const published = await done;
  const sent = published.sent as number;
  // Wait until everything accepted was acked (what was lost was never accepted) and is stable.
  const deadline = Date.now() + 30_000;
  let previous = -1;
  while (Date.now() < deadline) {
    const t = await admin.hgetall('{rd}:totals');
    const acked = Number(t.acked ?? 0);
    const settled = acked + Number(t.deadLettered ?? 0) >= Number(t.accepted ?? 0);
    if (settled && acked === previous && (await admin.zcard('{rd}:inflight')) === 0) break;
    previous = acked;
    await sleep(300);
  }
  const dumps = await system.dump(id);
  const delivery = mergeDelivery(
    dumps.map((d) => d.counts),
    sent,
  );
  const totals = await admin.hgetall('{rd}:totals');
  report.failover = {
    rate,
    leaseMs: system.options.leaseMs ?? 3000,
    seconds: round((published.t1 - t0) / 1e6, 1),
    kills,
    medianElectedMs: median(kills.map((k) => k.electedMs)),
    maxElectedMs: Math.max(...kills.map((k) => k.electedMs)),
    medianDispatchingMs: median(kills.map((k) => k.dispatchingMs)),
    maxDispatchingMs: Math.max(...kills.map((k) => k.dispatchingMs)),
    delivery,
    failoverReplayed: Number(totals.failoverReplayed ?? 0),
    redelivered: Number(totals.redelivered ?? 0),
  };
  log(
    `  published ${sent}, handled ${delivery.handled}, lost ${delivery.lost}, duplicates ${delivery.duplicates}, replayed ${report.failover.failoverReplayed}`,
  );
}

// ------------------------------------------------------------------------------------ rounds

/**
 * One round: each system in turn (redispatch, raw loop, BullMQ), each on a fresh redis-server.
 * Within a system the worker processes are scaled up between runs (1 -> 2 -> 4, warm-up after
 * each step), so dispatchers and Redis start once per system and round. In the last round the
 * system then goes back to the latency configuration for the latency runs (and, for redispatch,
 * RSS and failover).
 */
async function round_(r: number, report: Report): Promise<void> {
  const last = r === options.reps;
  const doThroughput = only.has('throughput');
  const doLatency = last && only.has('latency');
  const names: SystemName[] = ['redispatch', 'raw', 'bullmq'];
  for (const name of names) {
    const ours = name === 'redispatch';
    const counts = doThroughput ? (ours ? options.workerCounts : options.peerWorkerCounts) : [];
    const needsLatencyCluster = doLatency || (ours && last && (only.has('rss') || only.has('failover')));
    if (counts.length === 0 && !needsLatencyCluster) continue;
    const first = counts[0] ?? options.latencyWorkers;
    log(`round ${r}/${options.reps}: ${name}`);
    const system = await startSystem(name, startOptions(`r${r}-${name}`, first));
    try {
      for (const workers of counts) {
        if (system.workerCount !== workers) await system.setWorkers(workers);
        await warmup(system);
        for (const size of options.sizes) report.throughput.push(await throughputRun(system, size, r));
      }
      if (needsLatencyCluster) {
        if (system.workerCount !== options.latencyWorkers) await system.setWorkers(options.latencyWorkers);
        if (counts.length === 0) await warmup(system);
        if (ours) report.latencyRates = await latencyRates(report, system as Redispatch);
        if (doLatency) {
          // Quick runs come straight from the (warm) throughput runs; full runs warm up at 2,000 msg/s.
          if (!quick || counts.length === 0) await latencyRun(system, 2_000, 1, 'warm-up');
          const ownMax = maxThroughput(report, name, options.latencyWorkers);
          for (const { rate, label } of report.latencyRates) {
            if (!ours && !options.peerLatencyAllRates && label !== 'fixed') continue;
            if (!ours && rate > 0.9 * ownMax) {
              // Bounded runs: an offered rate above what the system drains only measures its queue growing.
              log(`  ${name} ${label} ${rate} msg/s skipped: above 90% of its own max (${ownMax} msg/s)`);
              report.latencySkipped.push({ system: name, rate, label, ownMax });
              continue;
            }
            report.latency.push(await latencyRun(system, rate, options.latencySeconds, label));
          }
        }
        if (ours && only.has('rss')) await rssPhase(system as Redispatch, report);
        if (ours && only.has('failover')) await failoverPhase(system as Redispatch, report);
      }
    } catch (error) {
      log(`  FAILED: ${errorText(error)}`);
      report.errors.push(`round ${r} ${name}: ${errorText(error)}`);
    } finally {
      await system.stop();
    }
  }
}

// ------------------------------------------------------------------------------------ 5a. memory

async function memoryPhase(report: Report): Promise<void> {
  const n = options.memoryCount;
  const systems: SystemName[] = options.memoryPeers ? ['redispatch', 'raw', 'bullmq'] : ['redispatch'];
  for (const name of systems) {
    log(`memory: ${name}, ${n} parked messages per payload size, no workers`);
    const tag = `mem-${name}`;
    const system =
      name === 'redispatch'
        ? await Redispatch.start(startOptions(tag, 0, { dispatchers: 1 }))
        : name === 'raw'
          ? await RawLoop.start(startOptions(tag, 1), false)
          : await BullMQ.start(startOptions(tag, 1), false);
    const admin = system.redis.admin;
    // How many messages are parked: accepted by the leader / stored by the raw leader / BullMQ waiting.
    const parked = async () =>
      name === 'redispatch'
        ? Number((await admin.hget('{rd}:totals', 'accepted')) ?? 0)
        : name === 'raw'
          ? await admin.hlen('raw:body')
          : await admin.llen('bull:bench:wait');
    try {
      await sleep(200);
      for (const size of options.sizes) {
        const start = await parked();
        const before = await usedMemory(admin);
        await system.publishFull(runId('m'), n, size);
        await system.loadDone(120_000);
        const deadline = Date.now() + 60_000;
        while ((await parked()) < start + n && Date.now() < deadline) await sleep(20);
        await sleep(300);
        const after = await usedMemory(admin);
        const result: MemoryResult = {
          system: name,
          size,
          count: n,
          parked: (await parked()) - start,
          usedMemoryBefore: before,
          usedMemoryAfter: after,
          bytesPerMessage: round((after - before) / n, 1),
          overheadPerMessage: round((after - before) / n - size, 1),
        };
        report.memory.push(result);
        log(
          `  ${size} B: ${result.bytesPerMessage} B/msg (${result.overheadPerMessage} B over the payload), parked ${result.parked}`,
        );
      }
    } catch (error) {
      log(`  FAILED: ${errorText(error)}`);
      report.errors.push(`memory ${name}: ${errorText(error)}`);
    } finally {
      await system.stop();
    }
  }
}

// ------------------------------------------------------------------------------------ main

function environment(): Report['environment'] {
  const version = (path: string) => {
    try {
      return (JSON.parse(readFileSync(join(REPO, path), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  const safe = (f: () => string) => {
    try {
      return f().trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    loadavgAtStart: loadavg().map((l) => round(l, 2)),
    redis: safe(() => execFileSync('redis-server', ['--version'], { encoding: 'utf8' })),
    bullmq: version('node_modules/bullmq/package.json'),
    ioredis: version('node_modules/ioredis/package.json'),
    gitHead: safe(() =>
      execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }),
    ),
    gitDirty: safe(() =>
      execFileSync(
        'git',
        ['-C', REPO, 'status', '--porcelain', '--', 'shared/src', 'worker/src', 'dispatcher/src'],
        {
          encoding: 'utf8',
        },
      ),
    )
      .split('\n')
      .filter(Boolean).length,
  };
}

async function main(): Promise<void> {
  const report: Report = {
    options: { ...options, count: { 100: options.count(100), 4096: options.count(4096) } },
    environment: environment(),
    throughput: [],
    latency: [],
    latencyMax: Number.NaN,
    latencyRates: [],
    latencySkipped: [],
    rss: null,
    failover: null,
    memory: [],
    errors: [],
    logDir,
    elapsedSeconds: 0,
  };
  log(`redispatch bench ${quick ? '(quick)' : '(full)'}; process logs in ${logDir}`);
  const rounds = only.has('throughput') ? options.reps : 1;
  for (let r = 1; r <= rounds; r++) await round_(r, report);
  if (only.has('memory')) await memoryPhase(report);
  report.elapsedSeconds = round((Date.now() - startedAt) / 1000, 1);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonFile = join(RESULTS_DIR, `${stamp}${quick ? '-quick' : ''}.json`);
  const svgFile = join(RESULTS_DIR, `${stamp}${quick ? '-quick' : ''}.svg`);
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(svgFile, renderSvg(report));
  process.stdout.write(`${renderTerminal(report)}\n`);
  process.stdout.write(`\n<!-- bench:start -->\n${renderMarkdown(report)}\n<!-- bench:end -->\n\n`);
  process.stdout.write(`results: ${jsonFile}\nchart:   ${svgFile}\nlogs:    ${logDir}\n`);
  writeFileSync(join(logDir, 'pids.json'), `${JSON.stringify(spawnedProcesses, null, 2)}\n`);
  if (options.cpuProf)
    process.stdout.write(
      `cpu profiles: ${profDir} (pid -> process in ${join(logDir, 'pids.json')}; summarize with node scripts/bench/dist/profile-summary.js <files>)\n`,
    );
  if (report.errors.length > 0) {
    process.stdout.write(
      `\n${report.errors.length} error(s):\n${report.errors.map((e) => `  ${e}`).join('\n')}\n`,
    );
    process.exitCode = 1;
  }
}

let interrupted = false;
const onSignal = () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: stopping every process this run started');
  void stopAll(2_000).finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', killAllNow);

try {
  await main();
} catch (error) {
  log(`bench failed: ${errorText(error)}`);
  process.exitCode = 1;
} finally {
  await stopAll(2_000);
}
