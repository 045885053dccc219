import { scheduleEdit } from '../redis/calls/schedule-calls.js';
import type { DataClient } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';
import {
  nextDueAfter,
  parseScheduleSpec,
  type ScheduleSpec,
  validateScheduleName,
  validateTiming,
} from './schedule-spec.js';

type ScheduleKeys = Pick<Keys, 'schedules' | 'scheduleState' | 'schedulesVersion'>;

/** One schedule with what the leader recorded of it (`schedule list`). */
export interface ScheduleEntry {
  name: string;
  /** Undefined when the stored spec is unreadable (it never fires). */
  spec: ScheduleSpec | undefined;
  /** Due ms of the last tick handled (fired or skipped), 0 = none yet. */
  lastMs: number;
  /** The next tick after the last one (or after creation), undefined when it never runs again. */
  nextMs: number | undefined;
  runs: number;
  skipped: number;
}

/** Adds (or replaces) a schedule; the leader picks it up on its next upkeep. */
export async function addSchedule(
  client: DataClient,
  keys: ScheduleKeys,
  name: string,
  spec: ScheduleSpec,
): Promise<number> {
  validateScheduleName(name);
  validateTiming(spec.timing);
  const { version } = await scheduleEdit(client, keys, { op: 'add', name, spec: JSON.stringify(spec) });
  return version;
}

/** Removes a schedule; false when there was none of that name. */
export async function removeSchedule(client: DataClient, keys: ScheduleKeys, name: string): Promise<boolean> {
  validateScheduleName(name);
  return (await scheduleEdit(client, keys, { op: 'remove', name })).changed;
}

/** Every schedule with its state, by name. */
export async function listSchedules(
  client: DataClient,
  keys: Pick<Keys, 'schedules' | 'scheduleState'>,
): Promise<ScheduleEntry[]> {
  const [specs, state] = await Promise.all([
    client.hgetall(keys.schedules),
    client.hgetall(keys.scheduleState),
  ]);
  return Object.keys(specs)
    .sort()
    .map((name) => {
      const spec = parseScheduleSpec(specs[name] ?? '');
      const lastMs = Number(state[`${name}:last`] ?? 0);
      return {
        name,
        spec,
        lastMs,
        nextMs: spec === undefined ? undefined : nextDueAfter(spec, lastMs),
        runs: Number(state[`${name}:runs`] ?? 0),
        skipped: Number(state[`${name}:skipped`] ?? 0),
      };
    });
}
