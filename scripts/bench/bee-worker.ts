/**
 * One Bee-Queue worker process: `node bee-worker.js <port> <queue> <concurrency>`, the same method as
 * bullmq-worker.ts. The processor is a no-op that records; the queue's 'succeeded' event (emitted once
 * Bee-Queue has written the job's success, i.e. its ack) records completion latency.
 *
 * IPC: 'ready' once connected; 'progress' {completed, lastUs} every 20 ms while it changes;
 * answers {type:'dump', runId} with its records.
 */
import BeeQueue from 'bee-queue';
import { parsePayloadString } from './lib/payload.js';
import type { Msg } from './lib/procs.js';
import { Recorder } from './lib/recorder.js';
import { nowUs } from './lib/util.js';

const [port, queueName, concurrency] = process.argv.slice(2);
const recorder = new Recorder();
let completed = 0;
let lastUs = 0;
let reported = -1;

// Defaults apart from concurrency and removing a job once it succeeded (BullMQ: removeOnComplete).
const queue = new BeeQueue<{ p: string }>(queueName as string, {
  redis: { host: '127.0.0.1', port: Number(port) },
  isWorker: true,
  removeOnSuccess: true,
});
queue.process(Number(concurrency), async (job) => {
  const now = nowUs();
  const parsed = parsePayloadString(job.data.p);
  if (parsed) recorder.handled(parsed, now);
});
queue.on('succeeded', (job) => {
  const now = nowUs();
  completed += 1;
  lastUs = now;
  const parsed = parsePayloadString((job.data as { p: string }).p);
  if (parsed) recorder.completed(parsed, now);
});
queue.on('error', (error) => console.error('bee-queue worker error', error));

process.on('message', (m: Msg) => {
  if (m.type === 'dump') process.send?.({ type: 'dump', ...recorder.dump(m.runId as string) });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  void Promise.race([queue.close(1_000), new Promise((resolve) => setTimeout(resolve, 1_500))]).then(() =>
    process.exit(0),
  );
});
setInterval(() => {
  if (completed === reported) return;
  reported = completed;
  process.send?.({ type: 'progress', completed, lastUs });
}, 20);

await queue.ready();
process.send?.({ type: 'ready' });
