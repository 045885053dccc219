import { readFileSync } from 'node:fs';
import type { CliProcess } from './cli-process.js';
import type { Takeover } from './takeovers.js';

// Reading what a CLI process printed (its JSON log lines) and how big it is, for fault tests'
// assertions and failure messages.

/** Reads the JSON log lines a process printed so far. */
export function logLines(proc: CliProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of proc.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial last line
    }
  }
  return out;
}

/** Every dispatcher's role changes (elections, step-downs, gaps) in time order, for failure messages. */
export function leadershipTimeline(procs: CliProcess[], label: (pid: number) => string): string {
  const wanted =
    /^(standby|elected leader|stepped down|resubscribed after a gap|subscription to the channel dropped|unwritten messages kept|takeover step failed|lease renewal failed|lease renewed after a retry|lease nearly spent)/;
  return procs
    .flatMap((proc) =>
      logLines(proc)
        .filter((l) => typeof l.msg === 'string' && wanted.test(l.msg))
        .map((l) => ({ time: Number(l.time), pid: proc.pid, line: l })),
    )
    .sort((a, b) => a.time - b.time)
    .map(({ time, pid, line }) => {
      const { msg, epoch, replayed, markerMatched, reason, rank, count, attempt, validForMs, err } = line;
      const why = (err as { message?: string } | undefined)?.message;
      const extra = JSON.stringify({
        epoch,
        replayed,
        markerMatched,
        reason,
        rank,
        count,
        attempt,
        validForMs,
        why,
      });
      return `  ${new Date(time).toISOString().slice(17, 23)} ${label(pid)} ${String(msg)} ${extra}`;
    })
    .join('\n');
}

/** Resident set size of a live process in MB (Linux /proc), or NaN. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The last `lines` log lines of a process (without lease-acquisition noise), for failure messages. */
export function logTail(proc: CliProcess, role: string, lines: number): string {
  const kept = logLines(proc)
    .filter((l) => l.msg !== 'lease acquisition failed')
    .slice(-lines)
    .map((l) => `    ${JSON.stringify({ ...l, hostname: undefined, pid: undefined, role: undefined })}`);
  const exit = proc.child.exitCode ?? proc.child.signalCode;
  return `  ${role} pid ${proc.pid}${exit === null ? '' : ` (exited ${exit})`}:\n${kept.join('\n')}`;
}

/** The "elected leader" log lines of the given dispatchers (epoch, replayed, markerMatched). */
export function electionsOf(dispatchers: CliProcess[]): Takeover[] {
  return dispatchers.flatMap((proc) =>
    logLines(proc)
      .filter((l) => l.msg === 'elected leader')
      .map((l) => ({
        pid: proc.pid,
        epoch: Number(l.epoch),
        replayed: Number(l.replayed),
        markerMatched: l.markerMatched === true,
        hadMarker: l.hadMarker === true,
      })),
  );
}

export interface StepDown {
  pid: number;
  reason: string;
  epoch: number;
  time: number;
}

/** The "stepped down" log lines of the given dispatchers. */
export function stepDownsOf(dispatchers: CliProcess[]): StepDown[] {
  return dispatchers.flatMap((proc) =>
    logLines(proc)
      .filter((l) => l.msg === 'stepped down')
      .map((l) => ({
        pid: proc.pid,
        reason: String(l.reason),
        epoch: Number(l.epoch),
        time: Number(l.time),
      })),
  );
}
