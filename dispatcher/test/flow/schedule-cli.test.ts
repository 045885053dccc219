// `redispatch schedule add|list|remove` as real processes against a real redis-server (no dispatcher:
// the admin commands only record; firing is covered in schedules.test.ts), and the bad-input errors.
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';

let server: RedisHandle;
beforeAll(async () => {
  server = await startRedis();
}, 30_000);
afterAll(async () => {
  await server?.stop();
});

interface Listed {
  name: string;
  timing: { kind: string; cron?: string; tz?: string; everyMs?: number };
  missed: string;
  nextMs: number | null;
  lastMs: number | null;
  runs: number;
}

/** The wall-clock hour and minute of `ms` in `timeZone`. */
function clock(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(ms));
}

describe('schedule CLI', () => {
  it('add, list (text and --json), remove', async () => {
    const env = testEnv(server.url, uniquePrefix('sched-cli'));
    const before = Date.now();
    const added = await runCli(
      [
        'schedule',
        'add',
        'nightly',
        '--cron',
        '30 3 * * *',
        '--tz',
        'America/New_York',
        '--body',
        '{"job":1}',
      ],
      env,
    );
    expect(added.code, added.output).toBe(0);
    expect(added.output).toContain('schedule nightly: cron "30 3 * * *" tz America/New_York missed=skip');
    const every = await runCli(
      ['schedule', 'add', 'beat', '--every', '60000', '--body', 'x', '--missed', 'once'],
      env,
    );
    expect(every.code, every.output).toBe(0);

    const json = await runCli(['schedule', 'list', '--json'], env);
    expect(json.code, json.output).toBe(0);
    const entries = JSON.parse(json.output) as Listed[];
    expect(entries.map((e) => e.name)).toEqual(['beat', 'nightly']);
    const [beat, nightly] = entries as [Listed, Listed];
    expect(beat).toMatchObject({
      timing: { kind: 'every', everyMs: 60_000 },
      missed: 'once',
      lastMs: null,
      runs: 0,
    });
    expect(beat.nextMs).toBeGreaterThanOrEqual(before + 60_000);
    expect(beat.nextMs).toBeLessThanOrEqual(Date.now() + 60_000);
    // The next run is 03:30 in New York (not in UTC, not on this host's clock), within a day.
    const next = nightly.nextMs as number;
    expect(clock(next, 'America/New_York')).toBe('03:30');
    expect(clock(next, 'UTC')).not.toBe('03:30');
    expect(next).toBeGreaterThan(before);
    expect(next).toBeLessThanOrEqual(before + 24 * 3_600_000);

    const text = await runCli(['schedule', 'list'], env);
    expect(text.lines).toHaveLength(2);
    expect(text.lines[1]).toMatch(
      /^nightly {2}cron "30 3 \* \* \*" tz America\/New_York missed=skip {2}next \S+ {2}last - {2}runs 0$/,
    );

    const removed = await runCli(['schedule', 'remove', 'beat'], env);
    expect(removed.code, removed.output).toBe(0);
    const after = JSON.parse((await runCli(['schedule', 'list', '--json'], env)).output) as Listed[];
    expect(after.map((e) => e.name)).toEqual(['nightly']);
    const again = await runCli(['schedule', 'remove', 'beat'], env);
    expect(again.code).toBe(1);
    expect(again.output).toContain('no schedule named "beat"');
  }, 60_000);

  it.each([
    [['add', 'bad name', '--every', '1000', '--body', 'x'], 'schedule name:'],
    [['add', 'n', '--body', 'x'], 'exactly one of --cron'],
    [['add', 'n', '--cron', '* * * * *', '--every', '1000', '--body', 'x'], 'exactly one of --cron'],
    [['add', 'n', '--cron', '61 * * * *', '--body', 'x'], '--cron: invalid expression'],
    [['add', 'n', '--cron', '0 3 * * *', '--tz', 'Mars/Olympus', '--body', 'x'], '--tz: unknown time zone'],
    [['add', 'n', '--every', '1000', '--tz', 'UTC', '--body', 'x'], '--tz: only with --cron'],
    [['add', 'n', '--every', '10', '--body', 'x'], '--every: expected whole milliseconds >= 100'],
    [['add', 'n', '--every', '1.5', '--body', 'x'], '--every: expected whole milliseconds'],
    [['add', 'n', '--every', '1000'], 'exactly one of --body'],
    [['add', 'n', '--every', '1000', '--body-file', '/nonexistent/body'], '--body-file: cannot read'],
    [['add', 'n', '--every', '1000', '--body', 'x', '--missed', 'twice'], '--missed: expected skip or once'],
  ])(
    'schedule %j fails with one line naming the flag (%s), storing nothing',
    async (args, message) => {
      const env = testEnv(server.url, uniquePrefix('sched-bad'));
      const run = await runCli(['schedule', ...args], env);
      expect(run.code).not.toBe(0);
      expect(run.lines).toHaveLength(1);
      expect(run.lines[0]).toContain(message);
      const list = await runCli(['schedule', 'list', '--json'], env);
      expect(JSON.parse(list.output)).toEqual([]);
    },
    30_000,
  );
});
