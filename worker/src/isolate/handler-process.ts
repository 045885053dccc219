import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from '@redispatch/shared';
import type { HandlerProcessEnd } from '../errors.js';
import type { Message } from '../message.js';
import type { ToChild } from './protocol.js';

/** Resident memory a child may use beyond its heap limit (code, Buffers, native allocations). */
const RSS_HEADROOM_MB = 128;

/** One message handed to the pool, from `run()` until its promise settles. */
export interface Run {
  readonly message: Message;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  child: Child | undefined;
  seq: number;
  done: boolean;
  abortTimer: NodeJS.Timeout | undefined;
}

/** One handler process and the messages it holds. */
export interface Child {
  readonly proc: ChildProcess;
  state: 'starting' | 'ready' | 'dead';
  readonly inHand: Map<number, Run>;
  nextSeq: number;
  /** The last few KB of stderr: how a V8 heap OOM is recognised. */
  stderrTail: string;
  loadError: string | undefined;
  /** Set when the pool itself kills the child, so its end is reported for what it was. */
  killedFor: { reason: HandlerProcessEnd; text: string } | undefined;
  startTimer: NodeJS.Timeout | undefined;
  onStarted: ((error?: Error) => void) | undefined;
}

/** How a child ended: as the pool killed it, out of heap (its stderr says so), by a signal, or by exiting. */
export function processEnd(
  child: Child,
  code: number | null,
  signal: NodeJS.Signals | null,
  maxMemoryMb: number,
): { reason: HandlerProcessEnd; text: string } {
  if (child.killedFor) return child.killedFor;
  if (/Reached heap limit|heap out of memory/.test(child.stderrTail))
    return {
      reason: 'memory',
      text: `handler process exceeded its memory limit (V8 heap ${maxMemoryMb} MB)`,
    };
  if (signal) return { reason: 'signal', text: `handler process killed by ${signal}` };
  return { reason: 'exit', text: `handler process exited with code ${code}` };
}

/** Kills a child (once), remembering why, so its end is reported for what it was. */
export function killChild(child: Child, reason: HandlerProcessEnd, text: string): void {
  if (child.state === 'dead' || child.killedFor) return;
  child.killedFor = { reason, text };
  child.proc.kill('SIGKILL');
}

/** Sends over a child's IPC channel; a child going away fails what it held on its 'exit', so errors are only logged. */
export function sendTo(log: Logger, child: Child, message: ToChild): void {
  try {
    child.proc.send(message, (error) => {
      // The child is going away; its 'close' fails what it held.
      if (error) log.debug({ err: error, pid: child.proc.pid }, 'send to handler process failed');
    });
  } catch (error) {
    log.debug({ err: error, pid: child.proc.pid }, 'send to handler process failed');
  }
}

/** The resident memory a child may use: its heap limit plus headroom. */
export function residentLimitMb(maxMemoryMb: number): number {
  return maxMemoryMb + RSS_HEADROOM_MB;
}

/** A process's resident memory in MB (Linux /proc), or undefined when it cannot be read (exited). */
export function residentMemoryMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined; // exited meanwhile
  }
}
