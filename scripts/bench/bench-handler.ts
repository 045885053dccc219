/**
 * The handler module the redispatch workers load in the benchmark (`worker --handler <this>`).
 * It does no work beyond recording: per run, how often each seq was handled and the handler
 * latency (now - scheduled publish time carried in the payload).
 *
 * The orchestrator collects the records over Redis: it PUBLISHes `dump <runId>` on the channel
 * `bench:control`, and each worker process answers with HSET bench:dump:<runId> <pid> <json>.
 * (The worker cannot be asked over IPC: it is the product's CLI process, not a fork.)
 */
import { Redis } from 'ioredis';
import { parsePayload } from './lib/payload.js';
import { CONTROL_CHANNEL, dumpKey, Recorder } from './lib/recorder.js';
import { nowUs } from './lib/util.js';

const recorder = new Recorder();
const url = process.env.REDISPATCH_REDIS_URL;
if (url) {
  const control = new Redis(url, { maxRetriesPerRequest: 1 });
  const answers = new Redis(url, { maxRetriesPerRequest: 1 });
  control.on('error', () => {});
  answers.on('error', () => {});
  control.on('message', (_channel: string, text: string) => {
    if (!text.startsWith('dump ')) return;
    const runId = text.slice(5);
    answers.hset(dumpKey(runId), String(process.pid), JSON.stringify(recorder.dump(runId))).catch(() => {});
  });
  void control.subscribe(CONTROL_CHANNEL).catch(() => {});
}

export default function benchHandler(message: { body: Buffer }): void {
  const now = nowUs();
  const payload = parsePayload(message.body);
  if (payload) recorder.handled(payload, now);
}
