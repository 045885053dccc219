import { nextDueAfter, type ScheduleSpec } from '@redispatch/shared';

/** One due tick: fire it (a message), or skip it (only the last-fired mark moves). */
export interface PlannedTick {
  dueMs: number;
  fire: boolean;
}

/** Most ticks one pass handles per schedule (a long catch-up continues in the next pass at once). */
export const MAX_TICKS_PER_PASS = 100;

/** The latest tick before `beforeMs`, starting from the tick `fromMs` (which is before it). */
function latestBefore(spec: ScheduleSpec, fromMs: number, beforeMs: number): number {
  const { timing, createdMs } = spec;
  if (timing.kind === 'every')
    return createdMs + Math.floor((beforeMs - 1 - createdMs) / timing.everyMs) * timing.everyMs;
  let latest = fromMs;
  for (;;) {
    const next = nextDueAfter(spec, latest);
    if (next === undefined || next >= beforeMs) return latest;
    latest = next;
  }
}

/**
 * The ticks of one schedule due by `nowMs` after its last-fired mark, in order. A tick due no later
 * than `aliveUntilMs` fell while a dispatcher ran (a leader's last upkeep mark plus the failover
 * grace): it fires, so a failover misses nothing. Ticks after that and before this leader took over
 * (`takeoverMs`) fell while no dispatcher ran: they become ONE planned tick, the latest of them, fired
 * under `--missed once` and skipped (the mark moves past them all) under `--missed skip`.
 */
export function planTicks(
  spec: ScheduleSpec,
  lastMs: number,
  nowMs: number,
  aliveUntilMs: number,
  takeoverMs: number,
): PlannedTick[] {
  const ticks: PlannedTick[] = [];
  let due = nextDueAfter(spec, lastMs);
  while (due !== undefined && due <= nowMs && ticks.length < MAX_TICKS_PER_PASS) {
    if (due > aliveUntilMs && due < takeoverMs) {
      const latest = latestBefore(spec, due, takeoverMs);
      ticks.push({ dueMs: latest, fire: spec.missed === 'once' });
      due = nextDueAfter(spec, latest);
      continue;
    }
    ticks.push({ dueMs: due, fire: true });
    due = nextDueAfter(spec, due);
  }
  return ticks;
}
