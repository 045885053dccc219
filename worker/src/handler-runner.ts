import type { Handler, Message } from './message.js';

/**
 * Where a worker runs its handler: in its own process (the default, no overhead) or in a pool of
 * child processes (`isolate`). `run` settles the way the handler does: resolve to ack, reject to nack.
 */
export interface HandlerRunner {
  run(message: Message): unknown;
  /** Ready to run (child processes started and the handler module loaded in each). */
  start(): Promise<void>;
  /** Called after the worker's drain: whatever still runs is stopped. */
  close(): Promise<void>;
}

/** The handler called directly: `run` is the handler itself, so the hot path is one call, as before. */
export function inProcessRunner(handler: Handler): HandlerRunner {
  return { run: handler, start: async () => {}, close: async () => {} };
}
