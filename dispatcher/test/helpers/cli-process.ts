import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/redispatch.js', import.meta.url));
export const CHECKER_HANDLER = fileURLToPath(new URL('../fixtures/checker-handler.mjs', import.meta.url));

export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves when a JSON log line matching `pattern` has been printed. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * The environment of a child process a test starts: the shell's own (PATH, HOME, locale, LD_PRELOAD
 * of the runner) without any REDISPATCH_* setting of the shell that runs the tests — a stray
 * REDISPATCH_PREFIX or REDISPATCH_MODE there must not change what a test runs — then exactly the
 * test's settings.
 */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('REDISPATCH_')),
  );
  return { ...inherited, ...env };
}

/** Runs `redispatch <args>` as a real process with the given environment. */
export function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    // Tests wait on log lines, so CLI processes always log at info (CLI_LOG_LEVEL overrides).
    env: childEnv({
      REDISPATCH_METRICS_PORT: '-1',
      ...env,
      REDISPATCH_LOG_LEVEL: env.CLI_LOG_LEVEL ?? 'info',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(output)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    waitForLog: (pattern, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(output)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${pattern} in output:\n${output.slice(-3000)}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
    exited: () => exit,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Runs a short-lived CLI command to completion and returns its exit code and output. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 30_000) {
  const proc = spawnCli(args, env);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const { code } = await proc.exited();
  clearTimeout(timer);
  const text = proc.output();
  return { code, output: text, lines: text.split('\n').filter((line) => line.trim() !== '') };
}
