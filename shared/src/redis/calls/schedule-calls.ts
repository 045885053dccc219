import type { Keys } from '../keys.js';
import { assertNotFenced } from '../script-code.js';
import type { ScriptClient } from './script-client.js';
import { numberAt } from './script-client.js';

type ScheduleKeys = Pick<Keys, 'schedules' | 'scheduleState'>;

/** scheduleEdit-3.lua: an admin adds (or replaces) or removes a schedule; bumps the version. */
export async function scheduleEdit(
  client: ScriptClient,
  keys: ScheduleKeys & Pick<Keys, 'schedulesVersion'>,
  args: { op: 'add'; name: string; spec: string } | { op: 'remove'; name: string },
): Promise<{ changed: boolean; version: number }> {
  const reply = await client.rdScheduleEdit(
    keys.schedules,
    keys.scheduleState,
    keys.schedulesVersion,
    args.op,
    args.name,
    args.op === 'add' ? args.spec : '',
  );
  return { changed: numberAt(reply, 0) === 1, version: numberAt(reply, 1) };
}

/** What a leader's fire or advance call did: `fired` false = the tick was already handled (or skipped). */
export interface ScheduleTickReply {
  fired: boolean;
  /** The schedule's last-fired mark after the call (due ms). */
  last: number;
}

/**
 * scheduleFire-6.lua (lists): stores the tick's message under `id` and appends it to `backlog` (the
 * routing backlog, or the held list), fenced; `payload` empty = only move the mark (a skipped tick).
 */
export async function scheduleFire(
  client: ScriptClient,
  keys: ScheduleKeys & Pick<Keys, 'epoch' | 'body' | 'backlog' | 'totals'>,
  args: { epoch: number; name: string; dueMs: number; id: string; payload: Buffer | '' },
): Promise<ScheduleTickReply> {
  const reply = await client.rdScheduleFire(
    keys.epoch,
    keys.schedules,
    keys.scheduleState,
    keys.body,
    keys.backlog,
    keys.totals,
    args.epoch,
    args.name,
    args.dueMs,
    args.payload,
    args.id,
  );
  assertNotFenced(reply, args.epoch);
  return { fired: numberAt(reply, 0) === 1, last: numberAt(reply, 1) };
}

/** scheduleAdvance-3.lua (streams): records a tick appended (or skipped) by the leader, fenced. */
export async function scheduleAdvance(
  client: ScriptClient,
  keys: ScheduleKeys & Pick<Keys, 'epoch'>,
  args: { epoch: number; name: string; dueMs: number; fired: boolean },
): Promise<ScheduleTickReply> {
  const reply = await client.rdScheduleAdvance(
    keys.epoch,
    keys.schedules,
    keys.scheduleState,
    args.epoch,
    args.name,
    args.dueMs,
    args.fired ? '1' : '0',
  );
  assertNotFenced(reply, args.epoch);
  return { fired: numberAt(reply, 0) === 1, last: numberAt(reply, 1) };
}
