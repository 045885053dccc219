import { Cron } from 'croner';

/** When a schedule's ticks fall: a cron expression (in a time zone), or every N ms from its creation. */
export type ScheduleTiming = { kind: 'cron'; cron: string; tz?: string } | { kind: 'every'; everyMs: number };

/**
 * What happens to ticks that fell due while no dispatcher ran (docs/flow-control.md): `skip` them all,
 * or fire `once` (the latest of them). Ticks missed during a failover are always all fired.
 */
export type MissedPolicy = 'skip' | 'once';

/** One schedule as stored in `{prefix}:schedules` (JSON). */
export interface ScheduleSpec {
  timing: ScheduleTiming;
  missed: MissedPolicy;
  /** The message body, base64 (binary-safe). */
  body: string;
  /** When it was added (Unix ms): `--every` ticks count from here; nothing is due before it. */
  createdMs: number;
}

/** Shortest `--every`: a tick faster than the leader's timers can keep is a mistake, not a schedule. */
export const MIN_EVERY_MS = 100;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws a one-line error naming the argument when `name` cannot be a schedule name. */
export function validateScheduleName(name: string): void {
  if (!NAME.test(name))
    throw new Error(
      `schedule name: expected 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit (got ${JSON.stringify(name)})`,
    );
}

function cronOf(cron: string, tz: string | undefined): Cron {
  return new Cron(cron, { paused: true, ...(tz === undefined ? {} : { timezone: tz }) });
}

/** Throws a one-line error naming the flag when the timing is not usable. */
export function validateTiming(timing: ScheduleTiming): void {
  if (timing.kind === 'every') {
    if (!Number.isSafeInteger(timing.everyMs) || timing.everyMs < MIN_EVERY_MS)
      throw new Error(`--every: expected whole milliseconds >= ${MIN_EVERY_MS} (got ${timing.everyMs})`);
    return;
  }
  if (timing.tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timing.tz });
    } catch {
      throw new Error(
        `--tz: unknown time zone ${JSON.stringify(timing.tz)} (an IANA name such as Europe/Berlin)`,
      );
    }
  }
  let cron: Cron;
  try {
    cron = cronOf(timing.cron, timing.tz);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`--cron: invalid expression ${JSON.stringify(timing.cron)}: ${reason}`);
  }
  if (cron.nextRun() === null) throw new Error(`--cron: ${JSON.stringify(timing.cron)} never runs again`);
}

/** The first tick strictly after `afterMs` (Unix ms), or undefined when the schedule never runs again. */
export function nextDueAfter(
  spec: Pick<ScheduleSpec, 'timing' | 'createdMs'>,
  afterMs: number,
): number | undefined {
  const { timing, createdMs } = spec;
  if (timing.kind === 'every') {
    const from = Math.max(afterMs, createdMs);
    return createdMs + (Math.floor((from - createdMs) / timing.everyMs) + 1) * timing.everyMs;
  }
  const next = cronOf(timing.cron, timing.tz).nextRun(new Date(Math.max(afterMs, createdMs)));
  return next === null ? undefined : next.getTime();
}

/** The spec as stored, or undefined when the stored text is not one (never fired, listed as invalid). */
export function parseScheduleSpec(text: string): ScheduleSpec | undefined {
  try {
    const value = JSON.parse(text) as ScheduleSpec;
    if (typeof value.body !== 'string' || typeof value.createdMs !== 'number') return undefined;
    if (value.missed !== 'skip' && value.missed !== 'once') return undefined;
    validateTiming(value.timing);
    return value;
  } catch {
    return undefined;
  }
}

/** How a timing reads in `schedule list`: `cron "0 * * * *" tz Europe/Berlin` or `every 1000ms`. */
export function describeTiming(timing: ScheduleTiming): string {
  if (timing.kind === 'every') return `every ${timing.everyMs}ms`;
  return `cron ${JSON.stringify(timing.cron)}${timing.tz ? ` tz ${timing.tz}` : ''}`;
}

/** The message id of one tick: the dedupe id that makes each tick one message across failovers. */
export function scheduleTickId(name: string, dueMs: number): string {
  return `sched:${name}:${dueMs}`;
}
