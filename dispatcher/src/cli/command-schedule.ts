import { readFileSync } from 'node:fs';
import {
  addSchedule,
  describeTiming,
  listSchedules,
  type MissedPolicy,
  removeSchedule,
  type ScheduleEntry,
  type ScheduleTiming,
  validateScheduleName,
  validateTiming,
} from '@redispatch/shared';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';

interface AddFlags {
  cron?: string;
  every?: string;
  tz?: string;
  body?: string;
  bodyFile?: string;
  missed: string;
}

/** The timing from the flags: exactly one of --cron and --every; --tz only with --cron. */
function timingFrom(flags: AddFlags): ScheduleTiming {
  if ((flags.cron === undefined) === (flags.every === undefined))
    throw new Error('schedule add: give exactly one of --cron "<expr>" and --every <ms>');
  let timing: ScheduleTiming;
  if (flags.every !== undefined) {
    if (flags.tz !== undefined)
      throw new Error('--tz: only with --cron (an --every schedule has no time zone)');
    if (!/^\d+$/.test(flags.every))
      throw new Error(`--every: expected whole milliseconds (got "${flags.every}")`);
    timing = { kind: 'every', everyMs: Number(flags.every) };
  } else {
    timing = { kind: 'cron', cron: flags.cron ?? '', ...(flags.tz === undefined ? {} : { tz: flags.tz }) };
  }
  validateTiming(timing);
  return timing;
}

function bodyFrom(flags: AddFlags, maxBytes: number): Buffer {
  if ((flags.body === undefined) === (flags.bodyFile === undefined))
    throw new Error('schedule add: give exactly one of --body TEXT and --body-file F');
  let body: Buffer;
  if (flags.body !== undefined) body = Buffer.from(flags.body, 'utf8');
  else {
    try {
      body = readFileSync(flags.bodyFile ?? '');
    } catch (error) {
      throw new Error(
        `--body-file: cannot read ${flags.bodyFile}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      );
    }
  }
  if (body.length > maxBytes)
    throw new Error(`--body: ${body.length} bytes is over REDISPATCH_MAX_PAYLOAD_BYTES (${maxBytes})`);
  return body;
}

function missedFrom(value: string): MissedPolicy {
  if (value !== 'skip' && value !== 'once')
    throw new Error(`--missed: expected skip or once (got "${value}")`);
  return value;
}

const iso = (ms: number | undefined): string =>
  ms === undefined || ms === 0 ? '-' : new Date(ms).toISOString();

function asJson(entry: ScheduleEntry): object {
  const { name, spec, lastMs, nextMs, runs, skipped } = entry;
  return {
    name,
    valid: spec !== undefined,
    ...(spec ? { timing: spec.timing, missed: spec.missed, createdMs: spec.createdMs } : {}),
    nextMs: nextMs ?? null,
    lastMs: lastMs === 0 ? null : lastMs,
    runs,
    skipped,
  };
}

function asLine(entry: ScheduleEntry): string {
  const spec = entry.spec
    ? `${describeTiming(entry.spec.timing)} missed=${entry.spec.missed}`
    : '(unreadable spec)';
  return `${entry.name}  ${spec}  next ${iso(entry.nextMs)}  last ${iso(entry.lastMs)}  runs ${entry.runs}`;
}

/** `redispatch schedule add|list|remove` (docs/flow-control.md, Schedules). */
export function registerScheduleCommand(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('Messages the leader publishes on a schedule (cron or every N ms), once per tick');
  schedule
    .command('add <name>')
    .description(
      'Add or replace a schedule; the leader fires each tick as one message with id sched:<name>:<dueMs>',
    )
    .option('--cron <expr>', 'cron expression (5 fields, or 6 with seconds first)')
    .option('--tz <zone>', "IANA time zone for --cron (default: the dispatcher host's)")
    .option('--every <ms>', `every N milliseconds from now (instead of --cron)`)
    .option('--body <text>', 'message body (UTF-8)')
    .option('--body-file <file>', 'message body from a file (bytes as they are)')
    .option('--missed <policy>', 'ticks missed while no dispatcher ran: skip, or fire once', 'skip')
    .action(async (name: string, flags: AddFlags, command: Command) => {
      try {
        validateScheduleName(name);
        const timing = timingFrom(flags);
        const missed = missedFrom(flags.missed);
        const config = configFrom(command);
        const body = bodyFrom(flags, config.maxPayloadBytes);
        const spec = { timing, missed, body: body.toString('base64'), createdMs: Date.now() };
        await withAdminScope(config, ({ client, keys }) => addSchedule(client, keys, name, spec));
        process.stdout.write(`schedule ${name}: ${describeTiming(timing)} missed=${missed}\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  schedule
    .command('list')
    .description('Every schedule: spec, next run, last run, runs')
    .option(
      '--json',
      'print one JSON array (fields: name, valid, timing, missed, createdMs, nextMs, lastMs, runs, skipped)',
    )
    .action(async (flags: { json?: boolean }, command: Command) => {
      try {
        const config = configFrom(command);
        const entries = await withAdminScope(config, ({ client, keys }) => listSchedules(client, keys));
        if (flags.json) process.stdout.write(`${JSON.stringify(entries.map(asJson))}\n`);
        else if (entries.length === 0) process.stdout.write('no schedules\n');
        else process.stdout.write(`${entries.map(asLine).join('\n')}\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  schedule
    .command('remove <name>')
    .description('Remove a schedule (ticks not yet fired are not fired)')
    .action(async (name: string, _flags: object, command: Command) => {
      try {
        validateScheduleName(name);
        const config = configFrom(command);
        const removed = await withAdminScope(config, ({ client, keys }) =>
          removeSchedule(client, keys, name),
        );
        if (!removed) throw new Error(`schedule remove: no schedule named ${JSON.stringify(name)}`);
        process.stdout.write(`schedule ${name} removed\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
}
