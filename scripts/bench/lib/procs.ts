/**
 * Child processes of the benchmark: spawned with their output in a log file, tracked so that every
 * one is stopped (by its own pid) when the run ends or is interrupted, and observable through
 * /proc (RSS, CPU time).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './util.js';

// biome-ignore lint/suspicious/noExplicitAny: IPC messages are plain JSON objects.
export type Msg = { type: string; [key: string]: any };

const live = new Set<Child>();
/** Every process started, for mapping CPU profiles (named by pid) back to roles. */
export const spawnedProcesses: { name: string; pid: number }[] = [];

export class Child {
  readonly exited: Promise<number | null>;
  private readonly inbox: Msg[] = [];
  private readonly waiters: { type: string; resolve: (m: Msg) => void }[] = [];
  private readonly listeners: ((m: Msg) => void)[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        live.delete(this);
        resolve(code);
      });
    });
    child.on('message', (m: Msg) => {
      for (const listener of this.listeners) listener(m);
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
      else this.inbox.push(m);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  onMessage(listener: (m: Msg) => void): void {
    this.listeners.push(listener);
  }

  send(message: Record<string, unknown>): void {
    if (this.child.connected) this.child.send(message);
  }

  /** The next IPC message of `type` (buffered ones first); rejects on timeout or exit. */
  next(type: string, timeoutMs = 120_000): Promise<Msg> {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Msg);
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (m: Msg) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const drop = () => {
        const j = this.waiters.indexOf(waiter);
        if (j >= 0) this.waiters.splice(j, 1);
        return j >= 0;
      };
      const timer = setTimeout(() => {
        if (drop()) reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
      void this.exited.then((code) => {
        if (drop()) {
          clearTimeout(timer);
          reject(new Error(`${this.name} exited (${code}) before '${type}'`));
        }
      });
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    await Promise.race([this.exited, sleep(graceMs)]);
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

export interface SpawnOptions {
  name: string;
  script: string;
  args?: string[];
  env?: Record<string, string>;
  nodeArgs?: string[];
  logDir: string;
  ipc?: boolean;
}

/** Starts `node [nodeArgs] script [args]`, stdout and stderr appended to `<logDir>/<name>.log`. */
export function spawnNode(options: SpawnOptions): Child {
  const log = openSync(join(options.logDir, `${options.name}.log`), 'a');
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])],
    {
      env: { ...process.env, ...options.env },
      stdio: options.ipc ? ['ignore', log, log, 'ipc'] : ['ignore', log, log],
    },
  );
  closeSync(log);
  spawnedProcesses.push({ name: options.name, pid: child.pid ?? -1 });
  return new Child(options.name, child);
}

/** Stops every child still running (SIGTERM, then SIGKILL), each by its own pid. */
export async function stopAll(graceMs = 3_000): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** Last resort on exit: SIGKILL whatever is left, by pid. */
export function killAllNow(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS), NaN when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const CLOCK_TICKS = 100; // Linux USER_HZ

/** User + system CPU seconds of a process from /proc/<pid>/stat, NaN when the process is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
