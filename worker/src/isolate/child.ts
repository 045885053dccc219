// Entry point of a handler process (forked by ProcessPool): loads the handler module named in argv[2],
// then runs messages the worker sends and reports each outcome. It holds no Redis connection: acks,
// nacks, deadlines and heartbeats all stay with the worker, so whatever happens here cannot stop them.
import { Worker } from 'node:worker_threads';
import { loadHandler } from '../load-handler.js';
import type { Handler, Message } from '../message.js';
import type { FromChild, ToChild } from './protocol.js';

const PARENT_CHECK_MS = 250;

const send = (message: FromChild) => {
  // The channel is gone only when the worker is: nothing left to report to.
  if (process.connected) process.send?.(message);
};

/** An Error with the name and text the worker sent (so a handler sees the same reason as in-process). */
function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** A numeric `retryAfterMs` on a handler's error (it steers the retry), carried to the worker. */
function retryAfterOf(error: Error): number | undefined {
  const after = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof after === 'number' ? after : undefined;
}

/**
 * A handler process must not outlive its worker, even with a blocked event loop (a SIGKILLed worker
 * cannot close anything): a thread with its own event loop watches for this process being reparented
 * and kills it.
 */
function watchParent(parentPid: number): void {
  const watchdog = new Worker(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => {
       if (process.ppid !== workerData.parentPid) process.kill(workerData.pid, 'SIGKILL');
     }, ${PARENT_CHECK_MS});`,
    { eval: true, workerData: { parentPid, pid: process.pid } },
  );
  watchdog.unref();
}

async function main(): Promise<void> {
  const specifier = process.argv[2] ?? '';
  watchParent(Number(process.argv[3]));
  let handler: Handler;
  try {
    handler = await loadHandler(specifier);
  } catch (error) {
    send({ type: 'load-failed', message: (error as Error).message });
    process.disconnect?.();
    process.exitCode = 1;
    return;
  }
  const running = new Map<number, AbortController>();
  // msg.extend calls waiting for the worker's answer, by request number.
  const extensions = new Map<number, { resolve(extended: boolean): void; reject(error: Error): void }>();
  let nextRequest = 0;
  process.on('message', (raw: ToChild) => {
    if (raw.type === 'abort') {
      running.get(raw.seq)?.abort(namedError(raw.name, raw.message));
      return;
    }
    if (raw.type === 'extended') {
      const waiting = extensions.get(raw.request);
      extensions.delete(raw.request);
      if (raw.error !== undefined) waiting?.reject(new Error(raw.error));
      else waiting?.resolve(raw.extended);
      return;
    }
    const controller = new AbortController();
    running.set(raw.seq, controller);
    // Replies travel back with the result; the worker writes them with the ack, as in-process.
    const replies: unknown[] = [];
    const message: Message = {
      reply: (data: unknown) => {
        replies.push(data);
      },
      id: raw.id,
      body: raw.body,
      header: raw.header,
      attempt: raw.attempt,
      signal: controller.signal,
      claimedAt: raw.claimedAt,
      // The claim is the worker's: it checks `ms`, fences and batches the extension, and answers.
      extend: (ms: number) =>
        new Promise<boolean>((resolve, reject) => {
          const request = nextRequest++;
          extensions.set(request, { resolve, reject });
          send({ type: 'extend', seq: raw.seq, request, ms });
        }),
    };
    const settle = (error: unknown, value?: unknown) => {
      running.delete(raw.seq);
      if (error === undefined) send({ type: 'done', seq: raw.seq, value, replies });
      else if (error instanceof Error)
        send({
          type: 'failed',
          seq: raw.seq,
          name: error.name,
          message: error.message,
          stack: error.stack,
          retryAfterMs: retryAfterOf(error),
        });
      // A thrown non-Error is reported as its text, as the worker does in-process (String(error)).
      else send({ type: 'failed', seq: raw.seq, name: '', message: String(error) });
    };
    try {
      Promise.resolve(handler(message)).then(
        (value: unknown) => settle(undefined, value),
        (error: unknown) => settle(error ?? new Error('handler rejected')),
      );
    } catch (error) {
      settle(error ?? new Error('handler threw'));
    }
  });
  // The worker died or closed the channel: a handler process never outlives its worker.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

void main();
