import type { Keys } from '@redispatch/shared';
import type { Redis } from 'ioredis';

/** Where a message is now. `unknown`: never accepted, or done (acked messages leave no trace). */
export type MessageState = 'queued' | 'inflight' | 'delayed' | 'backlog' | 'dead' | 'unknown';

/** `GET /api/messages/<id>`. Extend only: scripts read it. */
export interface MessageView {
  id: string;
  state: MessageState;
  attempts: number;
  /** inflight: the worker holding it; queued (lists mode): the worker whose queue holds it. */
  worker?: string;
  /** inflight: when its claim expires (epoch ms, Redis server clock). */
  deadline?: number;
  /** delayed: when it is due (epoch ms). */
  dueAt?: number;
  /** dead: when it was dead-lettered (epoch ms). */
  deadAt?: number;
  /** The last error (a retry's, or the dead-letter reason). */
  lastError?: string;
  /** Streams mode: the partition that holds it. */
  partition?: number;
  /** What `state` alone does not say (e.g. "acknowledged, not yet trimmed"). */
  note?: string;
  /** base64; absent when the message has no body stored (unknown). */
  body?: string;
}

/**
 * Lists mode: one pipelined read of every structure that can hold the id (body, attempts, errors,
 * in-flight set with its owner, delayed set, dead-letter set, backlog), then, for a queued message,
 * LPOS on each registered worker's queue to say whose it is. Read-only.
 */
export async function lookUpListsMessage(redis: Redis, keys: Keys, id: string): Promise<MessageView> {
  const replies = await redis
    .pipeline()
    .hgetBuffer(keys.body, id)
    .hget(keys.attempts, id)
    .hget(keys.errors, id)
    .zscore(keys.inflight, id)
    .hget(keys.owner, id)
    .zscore(keys.delayed, id)
    .zscore(keys.dlq, id)
    .lpos(keys.backlog, id)
    .zrange(keys.workers, 0, -1)
    .exec();
  if (!replies) throw new Error('message lookup pipeline returned nothing');
  const value = <T>(index: number): T => {
    const entry = replies[index];
    if (!entry || entry[0]) throw entry?.[0] ?? new Error('missing reply');
    return entry[1] as T;
  };
  const body = value<Buffer | null>(0);
  const view: MessageView = { id, state: 'unknown', attempts: Number(value<string | null>(1) ?? 0) };
  const lastError = value<string | null>(2);
  if (lastError) view.lastError = lastError;
  const inflight = value<string | null>(3);
  const delayed = value<string | null>(5);
  const dead = value<string | null>(6);
  if (dead !== null) Object.assign(view, { state: 'dead', deadAt: Number(dead) });
  else if (inflight !== null) {
    view.state = 'inflight';
    view.deadline = Number(inflight);
    const owner = value<string | null>(4);
    // A claim gated by its key's limits carries a NUL suffix after the worker id (list-key-gate.lua).
    if (owner) view.worker = owner.split('\0')[0] as string;
  } else if (delayed !== null) Object.assign(view, { state: 'delayed', dueAt: Number(delayed) });
  else if (value<number | null>(7) !== null) view.state = 'backlog';
  else if (body !== null) {
    view.state = 'queued';
    const worker = await queueHolding(redis, keys, value<string[]>(8), id);
    if (worker) view.worker = worker;
  }
  if (body !== null) view.body = body.toString('base64');
  return view;
}

/** The registered worker whose queue holds the id (one pipelined LPOS per worker), if any. */
async function queueHolding(
  redis: Redis,
  keys: Keys,
  workers: string[],
  id: string,
): Promise<string | undefined> {
  if (workers.length === 0) return undefined;
  const positions = redis.pipeline();
  for (const worker of workers) positions.lpos(keys.queue(worker), id);
  const replies = (await positions.exec()) ?? [];
  const index = replies.findIndex((reply) => reply?.[1] !== null && reply?.[1] !== undefined);
  return index < 0 ? undefined : workers[index];
}
