import { expect, vi } from 'vitest';
import { checkRun } from './checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli } from './cli-process.js';

/** Milliseconds from a process's own "shutting down" line (its clock: same host) to its exit. */
export async function stopTime(proc: CliProcess): Promise<{ ms: number; code: number | null }> {
  const exit = await proc.exited();
  const exitedAt = Date.now();
  const line = proc
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"shutting down"'));
  const startedAt = Number((JSON.parse(line ?? '{}') as { time?: number }).time);
  return { ms: exitedAt - startedAt, code: exit.code };
}

/** The dispatcher among `procs` that printed "elected leader" (the others are standbys). */
export async function leaderOf(procs: CliProcess[]): Promise<CliProcess> {
  await Promise.race(procs.map((proc) => proc.waitForLog(/"msg":"elected leader"/, 30_000)));
  const leader = procs.find((proc) => /"msg":"elected leader"/.test(proc.output()));
  if (!leader) throw new Error('no dispatcher was elected');
  return leader;
}

export interface FrozenStopScenario {
  /** Every setting of the deployment (mode, Redis, prefix, drain timeout); CHECK_DIR included. */
  env: Record<string, string>;
  /** Starts a CLI process that the caller's fixture kills after the test. */
  spawn(args: string[], env: Record<string, string>): CliProcess;
  /** Freezes every data Redis server (SIGSTOP) and thaws them (SIGCONT). */
  freeze(): void;
  thaw(): void;
  /** Resolves once the dispatchers are subscribed and the workers are known to the leader. */
  ready(dispatchers: CliProcess[], workers: CliProcess[]): Promise<void>;
  drainMs: number;
  count: number;
  label: string;
}

/**
 * Issue 22 item 1, both halves: under load, the data Redis is frozen, the leader (its batch
 * unwritten) and a worker (its claims unsettled) are told to stop; both must end within the drain
 * timeout + 2 s, the leader with exit 1. Once Redis is back, the standbys' replay buffers and the
 * redelivery of claims must account for every published message.
 */
export async function runFrozenStop(s: FrozenStopScenario): Promise<void> {
  const dir = s.env.CHECK_DIR ?? '';
  const dispatchers = [0, 1, 2].map(() => s.spawn(['dispatcher'], s.env));
  const workers = [0, 1].map(() =>
    s.spawn(['worker', '--handler', CHECKER_HANDLER, '--concurrency', '16'], s.env),
  );
  const leader = await leaderOf(dispatchers);
  await s.ready(dispatchers, workers);
  const publish = runCli(
    ['publish', '--count', String(s.count), '--rate', '2000', '--run-id', s.label],
    s.env,
    120_000,
  );
  await vi.waitFor(() => expect(checkRun(dir, s.label, s.count).handled).toBeGreaterThan(s.count / 4), {
    timeout: 30_000,
    interval: 50,
  });
  const stopped = workers[0] as CliProcess;
  let frozen = false;
  try {
    s.freeze();
    frozen = true;
    leader.kill('SIGTERM');
    stopped.kill('SIGTERM');
    const [l, w] = await Promise.all([stopTime(leader), stopTime(stopped)]);
    const times = `leader ${l.ms} ms (exit ${l.code}), worker ${w.ms} ms (exit ${w.code})`;
    console.log(`${s.label}: ${times}`);
    expect(l.ms, times).toBeLessThanOrEqual(s.drainMs + 2_000);
    expect(w.ms, times).toBeLessThanOrEqual(s.drainMs + 2_000);
    expect(l.code, leader.output()).toBe(1);
  } finally {
    if (frozen) s.thaw();
  }
  const published = await publish;
  expect(published.code, published.output).toBe(0);
  // A standby takes over and replays what the stopped leader never wrote; the surviving worker
  // gets the stopped one's claims once their ack timeout passes.
  await vi.waitFor(() => expect(checkRun(dir, s.label, s.count).lost).toBe(0), {
    timeout: 90_000,
    interval: 250,
  });
  const result = checkRun(dir, s.label, s.count);
  const successor = dispatchers.find((d) => d !== leader && /"msg":"elected leader"/.test(d.output()));
  console.log(
    `${s.label}: ${s.count} published, handled ${result.handled}, lost ${result.lost}, duplicates ${result.duplicates}; ` +
      `successor: ${successor?.output().match(/.*"msg":"elected leader".*/)?.[0] ?? 'missing'}`,
  );
  expect(successor, 'a standby took over').toBeDefined();
  expect(result.lost).toBe(0);
}
