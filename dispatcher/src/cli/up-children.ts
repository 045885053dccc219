import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export type ChildRole = 'dispatcher' | 'worker' | 'relay' | 'publisher';

/**
 * - `running`: started, not yet asked to stop.
 * - `stopping`: sent its one SIGTERM; draining.
 * - `exited`: gone; `expected` when it exited after being asked to.
 */
export type ChildState =
  | { kind: 'running' }
  | { kind: 'stopping' }
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; expected: boolean };

interface ChildRecord {
  name: string;
  role: ChildRole;
  /** Its REDISPATCH_INSTANCE_ID: how it appears in stats. */
  instanceId: string;
  pid: number;
  logFile: string;
  state: ChildState;
}

export type SupervisedChild = Readonly<ChildRecord>;

/** Bytes read from a log's end to find its last line. */
const TAIL_BYTES = 4_096;
const LINE_MAX = 160;

/** The last line a child logged, made readable (pino JSON → its message and error). */
export function lastLogLine(file: string): string {
  let fd: number | undefined;
  try {
    const size = statSync(file).size;
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    fd = openSync(file, 'r');
    readSync(fd, buffer, 0, length, size - length);
    const line =
      buffer
        .toString('utf8')
        .split('\n')
        .map((text) => text.trim())
        .filter((text) => text !== '')
        .pop() ?? '';
    return readable(line).slice(0, LINE_MAX);
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readable(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
    const error = typeof entry.err?.message === 'string' ? `: ${entry.err.message}` : '';
    return typeof entry.msg === 'string' ? `${entry.msg}${error}` : line;
  } catch {
    return line;
  }
}

/**
 * The processes `up` starts. Each runs in its own process group (a Ctrl-C at the terminal reaches
 * `up` alone, which then sends each child exactly one SIGTERM), logs straight into its file (so it
 * keeps logging, and drains, even if `up` is gone), and has an IPC channel to `up`, which it watches
 * to stop when `up` dies however it dies (see parent-link.ts).
 */
export class Supervisor {
  private readonly entries: { child: ChildProcess; info: ChildRecord }[] = [];
  private readonly exitListeners: ((child: SupervisedChild) => void)[] = [];

  constructor(private readonly logDir: string) {}

  get children(): readonly SupervisedChild[] {
    return this.entries.map((entry) => entry.info);
  }

  onExit(listener: (child: SupervisedChild) => void): void {
    this.exitListeners.push(listener);
  }

  start(
    name: string,
    role: ChildRole,
    args: string[],
    env: NodeJS.ProcessEnv,
    instanceId: string,
  ): SupervisedChild {
    const logFile = join(this.logDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [CLI_MAIN, ...args], {
        env: { ...env, REDISPATCH_INSTANCE_ID: instanceId },
        stdio: ['ignore', fd, fd, 'ipc'],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const info: ChildRecord = {
      name,
      role,
      instanceId,
      pid: child.pid ?? -1,
      logFile,
      state: { kind: 'running' },
    };
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (info.state.kind === 'exited') return;
      info.state = { kind: 'exited', code, signal, expected: info.state.kind === 'stopping' };
      for (const listener of this.exitListeners) listener(info);
    };
    child.once('exit', finish);
    child.once('error', () => finish(null, null));
    this.entries.push({ child, info });
    return info;
  }

  /** Whether every child of `role` has exited (false when none was started). */
  roleGone(role: ChildRole): boolean {
    const ofRole = this.entries.filter((entry) => entry.info.role === role);
    return ofRole.length > 0 && ofRole.every((entry) => entry.info.state.kind === 'exited');
  }

  /** One SIGTERM per running child (never a second: that would skip its drain); resolves when all exited. */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.entries.map(({ child, info }) => {
        if (info.state.kind === 'exited') return Promise.resolve();
        const exited = new Promise<void>((resolve) => this.onExitOf(info, resolve));
        if (info.state.kind === 'running') {
          info.state = { kind: 'stopping' };
          child.kill('SIGTERM');
        }
        return exited;
      }),
    );
  }

  /** SIGKILL to every child still alive (a second Ctrl-C). */
  killAll(): void {
    for (const { child, info } of this.entries) if (info.state.kind !== 'exited') child.kill('SIGKILL');
  }

  private onExitOf(info: SupervisedChild, resolve: () => void): void {
    if (info.state.kind === 'exited') {
      resolve();
      return;
    }
    this.onExit((child) => {
      if (child === info) resolve();
    });
  }
}
