/** Scenario 3: the leader SIGKILLed under load; time to a new epoch and to dispatching again, loss, duplicates. */
import { mergeDelivery } from '../lib/payload.js';
import type { FailoverResult, Report } from '../lib/report/results.js';
import type { Redispatch } from '../lib/systems/redispatch.js';
import { median, nowUs, round, runId, sleep } from '../lib/util.js';
import { log } from './context.js';
import { options } from './options.js';

export async function failoverPhase(system: Redispatch, report: Report): Promise<void> {
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
  const signals: NodeJS.Signals[] = [...Array(options.failoverKills).fill('SIGKILL'), 'SIGTERM'];
  let sigterm: FailoverResult['sigterm'] = null;
  for (const [k, signal] of signals.entries()) {
    // The graceful handover is measured from a steady state, not while a new leader still replays.
    if (signal === 'SIGTERM') await sleep(3_000);
    const leader = await system.leader();
    if (!leader) {
      report.errors.push('failover: no leader among our dispatchers');
      break;
    }
    const before = await read();
    const killedAt = nowUs();
    leader.kill(signal);
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
    // The last one is a SIGTERM: a graceful handover (the leader releases the lease and tells standbys).
    if (signal === 'SIGTERM') sigterm = entry;
    else kills.push(entry);
    log(
      `  ${signal} ${k + 1}: new epoch after ${entry.electedMs} ms, dispatching after ${entry.dispatchingMs} ms`,
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
    sigterm,
    failoverReplayed: Number(totals.failoverReplayed ?? 0),
    redelivered: Number(totals.redelivered ?? 0),
  };
  log(
    `  published ${sent}, handled ${delivery.handled}, lost ${delivery.lost}, duplicates ${delivery.duplicates}, replayed ${report.failover.failoverReplayed}`,
  );
}
