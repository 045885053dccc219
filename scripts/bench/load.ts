/**
 * The load generator, a child process of the orchestrator driven over IPC. One command at a time;
 * `stop` ends a fixed-rate run early.
 *
 * - publish-full: the product's own `publishLoad` (what `redispatch publish` runs): pipelined
 *   PUBLISH of `<runId>:<seq>:xxx…` as fast as Redis takes them.
 * - publish-rate: PUBLISH at a fixed rate on a schedule. Message `seq` is due at
 *   t0 + seq/rate and carries that *scheduled* time, so if this process (or Redis) stalls, the
 *   delay is charged to the latency instead of silently lowering the offered load.
 * - bullmq-full / bullmq-rate: the same for BullMQ (`addBulk` in chunks / `add` one by one).
 * - publish-delayed: publish-rate, each message in an envelope due at its scheduled time + `delayMs`.
 * - bee-full / bee-rate: the same for Bee-Queue (`saveAll` in chunks / `save` one by one).
 */
import { pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { encodeHistogram, newHistogram, record } from './lib/hist.js';
import { PUBLISH_MODULE } from './lib/paths.js';
import { fullPayload, ratePayload } from './lib/payload.js';
import type { Msg } from './lib/procs.js';
import { errorText, nowUs, sleep } from './lib/util.js';

type PublishModule = typeof import('../../dispatcher/dist/cli/command-publish.js');

let stopRequested = false;
const queue: Msg[] = [];
let wake: (() => void) | undefined;

function reply(message: Record<string, unknown>): void {
  process.send?.(message);
}

process.on('message', (m: Msg) => {
  if (m.type === 'stop') {
    stopRequested = true;
    return;
  }
  queue.push(m);
  wake?.();
});
process.on('disconnect', () => process.exit(0));

interface RateOptions {
  count: number;
  rate: number;
  size: number;
  runId: string;
  /** Sends the due messages [from, to) with their scheduled times; resolves when Redis replied. */
  send: (from: number, to: number, scheduled: (seq: number) => number) => Promise<unknown>;
}

/** The fixed-rate schedule shared by the pub/sub and BullMQ publishers. */
async function runSchedule(options: RateOptions): Promise<Record<string, unknown>> {
  const interval = 1e6 / options.rate;
  const t0 = nowUs() + 2_000;
  const scheduled = (seq: number) => Math.round(t0 + seq * interval);
  reply({ type: 'started', t0, rate: options.rate });
  let sent = 0;
  let inFlight = 0;
  let maxLagUs = 0;
  let errors = 0;
  // How late each message left this process: the publisher's own share of the latency.
  const sendLag = newHistogram();
  while (sent < options.count && !stopRequested) {
    const now = nowUs();
    const due = Math.min(options.count, Math.floor((now - t0) / interval) + 1);
    if (due > sent) {
      maxLagUs = Math.max(maxLagUs, now - scheduled(sent));
      for (let seq = sent; seq < due; seq++) record(sendLag, now - scheduled(seq));
      inFlight += 1;
      options.send(sent, due, scheduled).then(
        () => {
          inFlight -= 1;
        },
        () => {
          inFlight -= 1;
          errors += 1;
        },
      );
      sent = due;
    }
    // Bounded: at most 64 batches waiting for Redis; beyond that the lag shows in the latency.
    while (inFlight > 64) await sleep(1);
    await sleep(1);
  }
  while (inFlight > 0) await sleep(1);
  return { type: 'done', t0, t1: nowUs(), sent, maxLagUs, errors, sendLagHist: encodeHistogram(sendLag) };
}

async function handle(m: Msg): Promise<Record<string, unknown>> {
  stopRequested = false;
  if (m.type === 'publish-full') {
    const { publishLoad } = (await import(pathToFileURL(PUBLISH_MODULE).href)) as PublishModule;
    const redis = new Redis(m.url as string, { enableAutoPipelining: false });
    try {
      await redis.ping();
      const t0 = nowUs();
      reply({ type: 'started', t0 });
      await publishLoad(redis, m.channel as string, {
        count: m.count as number,
        rate: 0,
        size: m.size as number,
        runId: m.runId as string,
      });
      return { type: 'done', t0, t1: nowUs(), sent: m.count };
    } finally {
      redis.disconnect();
    }
  }
  if (m.type === 'publish-rate' || m.type === 'publish-delayed') {
    const delayMs = m.type === 'publish-delayed' ? (m.delayMs as number) : 0;
    // Loaded only here: a lighter start for every other command (the orchestrator waits for 'ready').
    const { encodeEnvelope } = await import('@redispatch/shared');
    const body = (seq: number, scheduledUs: number): string | Buffer => {
      const text = ratePayload(m.runId, seq, scheduledUs, m.size);
      if (delayMs === 0) return text;
      // Due at scheduled + delay (an absolute time, so a leader's lag before its write is not hidden).
      const dueAt = Math.round(Date.now() + (scheduledUs + delayMs * 1000 - nowUs()) / 1000);
      return encodeEnvelope({ dueAt }, text);
    };
    const redis = new Redis(m.url as string, { enableAutoPipelining: false });
    try {
      await redis.ping();
      return await runSchedule({
        count: m.count,
        rate: m.rate,
        size: m.size,
        runId: m.runId,
        send: (from, to, scheduled) => {
          const pipeline = redis.pipeline();
          for (let seq = from; seq < to; seq++)
            pipeline.publish(m.channel as string, body(seq, scheduled(seq)));
          return pipeline.exec();
        },
      });
    } finally {
      redis.disconnect();
    }
  }
  if (m.type === 'bullmq-full' || m.type === 'bullmq-rate') {
    const q = new Queue(m.queue as string, {
      connection: { host: '127.0.0.1', port: m.port as number },
      defaultJobOptions: { removeOnComplete: true, removeOnFail: 1000 },
    });
    try {
      await q.waitUntilReady();
      if (m.type === 'bullmq-full') {
        const t0 = nowUs();
        reply({ type: 'started', t0 });
        const chunk = 500;
        for (let from = 0; from < m.count; from += chunk) {
          const jobs = [];
          for (let seq = from; seq < Math.min(m.count, from + chunk); seq++)
            jobs.push({ name: 'j', data: { p: fullPayload(m.runId, seq, m.size) } });
          await q.addBulk(jobs);
        }
        return { type: 'done', t0, t1: nowUs(), sent: m.count };
      }
      return await runSchedule({
        count: m.count,
        rate: m.rate,
        size: m.size,
        runId: m.runId,
        send: (from, to, scheduled) => {
          const adds = [];
          for (let seq = from; seq < to; seq++)
            adds.push(q.add('j', { p: ratePayload(m.runId, seq, scheduled(seq), m.size) }));
          return Promise.all(adds);
        },
      });
    } finally {
      await Promise.race([q.close(), sleep(2_000)]);
    }
  }
  if (m.type === 'bee-full' || m.type === 'bee-rate') {
    const { default: BeeQueue } = await import('bee-queue');
    // A producer only: no worker, and the defaults otherwise (as for BullMQ).
    const q = new BeeQueue<{ p: string }>(m.queue as string, {
      redis: { host: '127.0.0.1', port: m.port as number },
      isWorker: false,
    });
    try {
      await q.ready();
      if (m.type === 'bee-full') {
        const t0 = nowUs();
        reply({ type: 'started', t0 });
        const chunk = 500;
        for (let from = 0; from < m.count; from += chunk) {
          const jobs = [];
          for (let seq = from; seq < Math.min(m.count, from + chunk); seq++)
            jobs.push(q.createJob({ p: fullPayload(m.runId, seq, m.size) }));
          await q.saveAll(jobs);
        }
        return { type: 'done', t0, t1: nowUs(), sent: m.count };
      }
      return await runSchedule({
        count: m.count,
        rate: m.rate,
        size: m.size,
        runId: m.runId,
        send: (from, to, scheduled) => {
          const saves = [];
          for (let seq = from; seq < to; seq++)
            saves.push(q.createJob({ p: ratePayload(m.runId, seq, scheduled(seq), m.size) }).save());
          return Promise.all(saves);
        },
      });
    } finally {
      await Promise.race([q.close(), sleep(2_000)]);
    }
  }
  throw new Error(`unknown command ${m.type}`);
}

reply({ type: 'ready' });
for (;;) {
  const m = queue.shift();
  if (!m) {
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = undefined;
    continue;
  }
  try {
    reply(await handle(m));
  } catch (error) {
    reply({ type: 'done', error: errorText(error) });
  }
}
