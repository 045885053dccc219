/**
 * The "raw ioredis loop": the bare Redis work of redispatch's lists design with none of its
 * guarantees (no lease, no fencing, no epoch check, no liveness check, no backpressure, no
 * attempts/owner bookkeeping, no redelivery). It is the ceiling the product is compared with.
 *
 *   node raw.js leader <url> <channel> <workers>
 *     SUBSCRIBE channel; what arrives while a write is in flight is written next, one pipeline
 *     per batch (≤512, like REDISPATCH_BATCH_SIZE): HSET body id payload…, ZADD pending
 *     deadline id…, RPUSH q:<w> id… round-robin. At most one pipeline in flight.
 *   node raw.js worker <url> <index>
 *     loop: one Lua call acks the previous batch (LREM proc, HDEL body, ZREM pending, HINCRBY
 *     acked) and moves ≤100 ids q -> proc returning their payloads; the no-op handler runs on
 *     each; when the queue is empty, BLMOVE q proc (1 s) wakes it.
 *
 * IPC: the worker answers {type:'dump', runId} with its records; the leader takes
 * {type:'workers', count} between runs; both report 'ready'.
 */
import { Redis } from 'ioredis';
import { parsePayload } from './lib/payload.js';
import type { Msg } from './lib/procs.js';
import { RAW_KEYS } from './lib/raw-keys.js';
import { Recorder } from './lib/recorder.js';
import { nowUs } from './lib/util.js';

const MOVE_AND_ACK = `
local n = tonumber(ARGV[2])
if n > 0 then
  for i = 3, n + 2 do redis.call('LREM', KEYS[2], 1, ARGV[i]) end
  redis.call('HDEL', KEYS[3], unpack(ARGV, 3, n + 2))
  redis.call('ZREM', KEYS[4], unpack(ARGV, 3, n + 2))
  redis.call('HINCRBY', KEYS[5], 'acked', n)
end
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not id then break end
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], id)
end
return out
`;

const MAX_BATCH = 512;
const MOVE_MAX = 100;

async function leader(url: string, channel: string, initialWorkers: number): Promise<void> {
  let workers = initialWorkers;
  // The orchestrator resizes the worker set between runs (when idle): {type:'workers', count}.
  process.on('message', (m: Msg) => {
    if (m.type === 'workers') {
      workers = m.count as number;
      rr = 0;
      process.send?.({ type: 'workers-set' });
    }
  });
  const sub = new Redis(url);
  const cmd = new Redis(url, { enableAutoPipelining: false });
  let pending: Buffer[] = [];
  let writing = false;
  let scheduled = false;
  let sequence = 0;
  let rr = 0;
  const flush = async () => {
    scheduled = false;
    if (writing || pending.length === 0) return;
    writing = true;
    const batch = pending.length <= MAX_BATCH ? pending : pending.slice(0, MAX_BATCH);
    pending = batch === pending ? [] : pending.slice(MAX_BATCH);
    const deadline = Date.now() + 10_000;
    const hset: (string | Buffer)[] = [];
    const zadd: (string | number)[] = [];
    const queues: string[][] = Array.from({ length: workers }, () => []);
    for (const payload of batch) {
      sequence += 1;
      const id = sequence.toString(36);
      hset.push(id, payload);
      zadd.push(deadline, id);
      queues[rr]?.push(id);
      rr = (rr + 1) % workers;
    }
    const pipeline = cmd
      .pipeline()
      .hset(RAW_KEYS.body, ...hset)
      .zadd(RAW_KEYS.pending, ...zadd);
    queues.forEach((ids, w) => {
      if (ids.length > 0) pipeline.rpush(RAW_KEYS.queue(w), ...ids);
    });
    await pipeline.exec();
    writing = false;
    if (pending.length > 0) schedule();
  };
  const schedule = () => {
    if (scheduled || writing) return;
    scheduled = true;
    setImmediate(() => void flush());
  };
  sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    pending.push(message);
    schedule();
  });
  await sub.subscribe(channel);
  process.send?.({ type: 'ready' });
}

async function worker(url: string, index: number): Promise<void> {
  const recorder = new Recorder();
  const redis = new Redis(url, { enableAutoPipelining: false });
  redis.defineCommand('moveAndAck', { numberOfKeys: 5, lua: MOVE_AND_ACK });
  const keys = [
    RAW_KEYS.queue(index),
    RAW_KEYS.processing(index),
    RAW_KEYS.body,
    RAW_KEYS.pending,
    RAW_KEYS.stats,
  ];
  const handle = (payload: Buffer | null) => {
    const now = nowUs();
    const parsed = payload ? parsePayload(payload) : null;
    if (parsed) recorder.handled(parsed, now);
  };
  process.on('message', (m: Msg) => {
    if (m.type === 'dump') process.send?.({ type: 'dump', ...recorder.dump(m.runId as string) });
  });
  await redis.ping();
  process.send?.({ type: 'ready' });
  let acks: string[] = [];
  for (;;) {
    const reply = (await (
      redis as unknown as { moveAndAckBuffer: (...args: unknown[]) => Promise<Buffer[]> }
    ).moveAndAckBuffer(...keys, MOVE_MAX, acks.length, ...acks)) as Buffer[];
    acks = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      handle(reply[i + 1] as Buffer);
      acks.push((reply[i] as Buffer).toString());
    }
    if (reply.length === 0) {
      const id = await redis.blmove(keys[0] as string, keys[1] as string, 'LEFT', 'RIGHT', 1);
      if (id) {
        handle(await redis.hgetBuffer(RAW_KEYS.body, id));
        acks.push(id);
      }
    }
  }
}

process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
const [role, url, a, b] = process.argv.slice(2);
if (role === 'leader') await leader(url as string, a as string, Number(b));
else if (role === 'worker') await worker(url as string, Number(a));
else throw new Error(`usage: raw.js leader <url> <channel> <workers> | worker <url> <index>`);
