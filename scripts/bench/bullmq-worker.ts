/**
 * One BullMQ worker process: `node bullmq-worker.js <port> <queue> <concurrency>`. The processor
 * is a no-op that records like the other systems' handlers; the 'completed' event (fired after
 * BullMQ moved the job to completed, i.e. its ack) records completion latency.
 *
 * IPC: 'ready' once connected; 'progress' {completed, lastUs} every 20 ms while it changes;
 * answers {type:'dump', runId} with its records.
 */
import { type Job, Worker } from 'bullmq';
import { parsePayloadString } from './lib/payload.js';
import type { Msg } from './lib/procs.js';
import { Recorder } from './lib/recorder.js';
import { nowUs } from './lib/util.js';

const [port, queueName, concurrency] = process.argv.slice(2);
const recorder = new Recorder();
let completed = 0;
let lastUs = 0;
let reported = -1;

const worker = new Worker(
  queueName as string,
  async (job: Job<{ p: string }>) => {
    const now = nowUs();
    const parsed = parsePayloadString(job.data.p);
    if (parsed) recorder.handled(parsed, now);
  },
  { connection: { host: '127.0.0.1', port: Number(port) }, concurrency: Number(concurrency), autorun: true },
);
worker.on('completed', (job: Job<{ p: string }>) => {
  const now = nowUs();
  completed += 1;
  lastUs = now;
  const parsed = parsePayloadString(job.data.p);
  if (parsed) recorder.completed(parsed, now);
});
worker.on('error', (error) => console.error('bullmq worker error', error));

process.on('message', (m: Msg) => {
  if (m.type === 'dump') process.send?.({ type: 'dump', ...recorder.dump(m.runId as string) });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  void Promise.race([worker.close(true), new Promise((resolve) => setTimeout(resolve, 1_000))]).then(() =>
    process.exit(0),
  );
});
setInterval(() => {
  if (completed === reported) return;
  reported = completed;
  process.send?.({ type: 'progress', completed, lastUs });
}, 20);

await worker.waitUntilReady();
process.send?.({ type: 'ready' });
