import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HandlerLoadError, type Logger } from '@redispatch/shared';
import { HandlerProcessError } from '../errors.js';
import type { HandlerRunner } from '../handler-runner.js';
import type { Message } from '../message.js';
import type { IsolateMetrics } from '../metrics.js';
import { handlerEnv } from './handler-env.js';
import {
  type Child,
  killChild,
  processEnd,
  type Run,
  residentLimitMb,
  residentMemoryMb,
  sendTo,
} from './handler-process.js';
import { DEFAULT_ISOLATE_MAX_MEMORY_MB, type IsolateOptions } from './isolate-options.js';
import type { FromChild } from './protocol.js';

/** After a message's deadline the child gets this long to honour the abort before it is killed. */
const ABORT_GRACE_MS = 1_000;
/** A child that has not loaded its handler module within this is killed (and the start fails). */
const START_TIMEOUT_MS = 30_000;
const WATCHDOG_MS = 250;
const START_BACKOFF_BASE_MS = 100;
const START_BACKOFF_MAX_MS = 30_000;
/** How long close() waits for children to leave after their channel closed, before SIGKILL. */
const CLOSE_GRACE_MS = 2_000;
const CHILD_ENTRY = fileURLToPath(new URL('./child.js', import.meta.url));

export interface ProcessPoolOptions extends IsolateOptions {
  concurrency: number;
  log: Logger;
  metrics: IsolateMetrics;
}

/**
 * Runs handlers in a pool of child processes (`fork`, one IPC channel each), so a handler that exits
 * its process, crashes it (a native addon's segfault), exhausts its memory or blocks its event loop
 * takes down only its child: the messages that child held are nacked with the reason (or, for a blocked
 * loop, left to the ack deadline), the child is replaced, and the worker — its Redis connections, its
 * heartbeats, its other messages — carries on. A child that dies before it loaded the handler is
 * replaced with exponential backoff, never in a tight loop.
 */
export class ProcessPool implements HandlerRunner {
  private readonly size: number;
  private readonly perChild: number;
  private readonly maxMemoryMb: number;
  private readonly children = new Set<Child>();
  private readonly pending: Run[] = [];
  private state: 'idle' | 'running' | 'closing' | 'closed' = 'idle';
  private startFailures = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly respawns = new Set<NodeJS.Timeout>();
  private readonly log: Logger;

  constructor(private readonly options: ProcessPoolOptions) {
    this.size = Math.max(1, Math.min(options.poolSize || options.concurrency, options.concurrency));
    this.perChild = Math.ceil(options.concurrency / this.size);
    this.maxMemoryMb = options.maxMemoryMb ?? DEFAULT_ISOLATE_MAX_MEMORY_MB;
    this.log = options.log.child({ component: 'isolate' });
  }

  /** Starts every child and waits until each loaded the handler; a module that cannot load fails here. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`handler pool cannot start from state ${this.state}`);
    this.state = 'running';
    const startOne = () =>
      new Promise<void>((resolve, reject) => {
        this.spawn((error) => (error ? reject(error) : resolve()));
      });
    // One child first: a module that cannot load fails after one try, not after `size` of them.
    const results = await Promise.allSettled([startOne()]);
    if (results[0]?.status === 'fulfilled')
      results.push(...(await Promise.allSettled(Array.from({ length: this.size - 1 }, startOne))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    this.watchdog = setInterval(() => this.checkMemory(), WATCHDOG_MS);
    this.watchdog.unref();
    this.log.info(
      { processes: this.size, perProcess: this.perChild, maxMemoryMb: this.maxMemoryMb },
      'handler processes ready',
    );
  }

  run(message: Message): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.state !== 'running') {
        reject(new HandlerProcessError('handler pool is not running', 'stopped', null, null));
        return;
      }
      const run: Run = {
        message,
        resolve,
        reject,
        child: undefined,
        seq: 0,
        done: false,
        abortTimer: undefined,
      };
      // Aborted at the ack deadline (and by close past the drain): forwarded to the child's signal.
      const { signal } = message;
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      signal.addEventListener('abort', () => this.onAbort(run, signal.reason), { once: true });
      this.pending.push(run);
      this.dispatch();
    });
  }

  /** Rejects what waits, closes every channel (a child exits when its channel closes), kills stragglers. */
  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    clearInterval(this.watchdog);
    for (const timer of this.respawns) clearTimeout(timer);
    this.respawns.clear();
    for (const run of this.pending.splice(0)) {
      this.finish(
        run,
        new HandlerProcessError(
          'worker stopped before a handler process took the message',
          'stopped',
          null,
          null,
        ),
      );
    }
    const exits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.state === 'dead') return resolve();
          // 'exit', not 'close': Node never emits 'close' for a child whose IPC channel the parent
          // disconnected, as done here.
          child.proc.once('exit', (code, signal) => {
            this.onClose(child, code, signal);
            resolve();
          });
          child.killedFor = {
            reason: 'stopped',
            text: 'handler process stopped: the worker is shutting down',
          };
          if (child.proc.connected) child.proc.disconnect();
          // A blocked event loop never sees its channel close.
          setTimeout(() => child.proc.kill('SIGKILL'), CLOSE_GRACE_MS).unref();
        }),
    );
    await Promise.all(exits);
    this.state = 'closed';
  }

  private spawn(onStarted?: (error?: Error) => void): void {
    const execArgv = [
      ...process.execArgv.filter((arg) => !/^--(inspect|max-old-space-size)/.test(arg)),
      `--max-old-space-size=${this.maxMemoryMb}`,
    ];
    const proc = fork(CHILD_ENTRY, [this.options.module, String(process.pid)], {
      execArgv,
      env: handlerEnv(),
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    const child: Child = {
      proc,
      state: 'starting',
      inHand: new Map(),
      nextSeq: 1,
      stderrTail: '',
      loadError: undefined,
      killedFor: undefined,
      startTimer: undefined,
      onStarted,
    };
    this.children.add(child);
    proc.stderr?.on('data', (chunk: Buffer) => {
      // Handlers' stderr stays visible, as it is in-process.
      process.stderr.write(chunk);
      child.stderrTail = (child.stderrTail + chunk.toString('utf8')).slice(-4_096);
    });
    proc.on('message', (message: FromChild) => this.onMessage(child, message));
    // Spawn failures and sends on a closing channel; the 'close' handler does the accounting.
    proc.on('error', (error) => this.log.warn({ err: error, pid: proc.pid }, 'handler process error'));
    proc.on('close', (code, signal) => this.onClose(child, code, signal));
    child.startTimer = setTimeout(
      () =>
        killChild(child, 'timeout', `handler process did not load the handler within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    );
    child.startTimer.unref();
  }

  private onMessage(child: Child, message: FromChild): void {
    switch (message.type) {
      case 'ready': {
        child.state = 'ready';
        clearTimeout(child.startTimer);
        this.startFailures = 0;
        this.updateGauge();
        child.onStarted?.();
        child.onStarted = undefined;
        this.dispatch();
        return;
      }
      case 'load-failed':
        child.loadError = message.message;
        return;
      case 'done':
      case 'failed': {
        const run = child.inHand.get(message.seq);
        if (!run) return;
        child.inHand.delete(message.seq);
        if (message.type === 'done') {
          for (const reply of message.replies ?? []) run.message.reply(reply as never);
          this.finish(run, undefined, message.value);
        } else {
          // Rebuilt so the nack text is what it would be in-process: "<name>: <message>", or a non-Error's text.
          let error: unknown = message.message;
          if (message.name !== '') {
            error = new Error(message.message);
            (error as Error).name = message.name;
            // The handler's own stack (from its process): the failure log and the dead letter point at its code.
            if (message.stack) (error as Error).stack = message.stack;
            if (message.retryAfterMs !== undefined)
              Object.assign(error as Error, { retryAfterMs: message.retryAfterMs });
          }
          this.finish(run, error);
        }
        this.dispatch();
        return;
      }
      case 'extend': {
        const run = child.inHand.get(message.seq);
        const { seq, request } = message;
        const answer = (extended: boolean, error?: string) =>
          sendTo(this.log, child, { type: 'extended', seq, request, extended, error });
        if (!run) {
          answer(false);
          return;
        }
        run.message.extend(message.ms).then(
          (extended) => answer(extended),
          (error: unknown) => answer(false, error instanceof Error ? error.message : String(error)),
        );
        return;
      }
    }
  }

  private onClose(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (child.state === 'dead') return; // accounted at 'exit' by close() already
    const wasReady = child.state === 'ready';
    child.state = 'dead';
    clearTimeout(child.startTimer);
    this.children.delete(child);
    this.updateGauge();
    const end = processEnd(child, code, signal, this.maxMemoryMb);
    const inHand = [...child.inHand.values()];
    child.inHand.clear();
    for (const run of inHand) this.finish(run, new HandlerProcessError(end.text, end.reason, code, signal));
    const startError = child.loadError ?? `handler process ended before it loaded the handler: ${end.text}`;
    if (child.onStarted) {
      // Only children of start() have one: it fails, and nothing is respawned.
      child.onStarted(new HandlerLoadError(startError));
      child.onStarted = undefined;
      if (end.reason !== 'stopped') this.options.metrics.restarts.inc({ reason: 'start_failed' });
      return;
    }
    if (end.reason === 'stopped') return;
    if (!wasReady) {
      this.startFailures += 1;
      this.options.metrics.restarts.inc({ reason: 'start_failed' });
      this.log.error({ pid: child.proc.pid, reason: startError }, 'handler process failed to start');
    } else {
      this.options.metrics.restarts.inc({ reason: end.reason });
      this.log.warn(
        { pid: child.proc.pid, reason: end.reason, code, signal, messages: inHand.length, error: end.text },
        'handler process died; replacing it',
      );
    }
    if (this.state !== 'running') return;
    // Crashing on start (a bad module, a broken dependency): back off, so it is never a fork bomb.
    const delay =
      this.startFailures === 0
        ? 0
        : Math.min(START_BACKOFF_MAX_MS, START_BACKOFF_BASE_MS * 2 ** (this.startFailures - 1));
    const timer = setTimeout(() => {
      this.respawns.delete(timer);
      if (this.state === 'running') this.spawn();
    }, delay);
    this.respawns.add(timer);
    this.dispatch();
  }

  /** Hands waiting messages to the ready children with the most room, in arrival order. */
  private dispatch(): void {
    while (this.pending.length > 0) {
      let best: Child | undefined;
      for (const child of this.children) {
        if (child.state !== 'ready' || child.killedFor || child.inHand.size >= this.perChild) continue;
        if (!best || child.inHand.size < best.inHand.size) best = child;
      }
      if (!best) return;
      const run = this.pending.shift() as Run;
      const seq = best.nextSeq++;
      run.child = best;
      run.seq = seq;
      best.inHand.set(seq, run);
      const { message } = run;
      sendTo(this.log, best, {
        type: 'run',
        seq,
        id: message.id,
        body: message.body,
        header: message.header,
        attempt: message.attempt,
        claimedAt: message.claimedAt,
      });
    }
  }

  private onAbort(run: Run, reason: unknown): void {
    if (run.done) return;
    const child = run.child;
    if (!child) {
      this.pending.splice(this.pending.indexOf(run), 1);
      this.finish(run, reason);
      return;
    }
    const error = reason instanceof Error ? reason : new Error(String(reason));
    sendTo(this.log, child, { type: 'abort', seq: run.seq, name: error.name, message: error.message });
    // A handler that ignores its signal, or an event loop that is blocked, gets the child killed: the
    // message goes to redelivery either way, and the slot must not stay taken.
    run.abortTimer = setTimeout(() => {
      if (!run.done)
        killChild(
          child,
          'timeout',
          `handler process killed: message ${run.message.id} ran ${ABORT_GRACE_MS} ms past its abort (${error.message})`,
        );
    }, ABORT_GRACE_MS);
    run.abortTimer.unref();
  }

  private finish(run: Run, error?: unknown, value?: unknown): void {
    if (run.done) return;
    run.done = true;
    clearTimeout(run.abortTimer);
    if (error === undefined) run.resolve(value);
    else run.reject(error);
  }

  /** Kills a child whose resident memory passed the limit (Linux /proc; elsewhere the heap limit alone). */
  private checkMemory(): void {
    if (process.platform !== 'linux') return;
    const limitMb = residentLimitMb(this.maxMemoryMb);
    for (const child of this.children) {
      const pid = child.proc.pid;
      if (child.state === 'dead' || pid === undefined) continue;
      const rssMb = residentMemoryMb(pid);
      if (rssMb === undefined) continue;
      if (rssMb > limitMb)
        killChild(
          child,
          'memory',
          `handler process exceeded its memory limit (resident ${Math.round(rssMb)} MB > ${limitMb} MB)`,
        );
    }
  }

  private updateGauge(): void {
    let ready = 0;
    for (const child of this.children) if (child.state === 'ready') ready += 1;
    this.options.metrics.processes.set(ready);
  }
}
