import { createKeys, OPTIONS } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { COMMAND_HELP } from '../../src/cli/command-help.js';
import { runCli } from '../helpers/cli-process.js';
import { uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

const fx = useProcessFixture();
const specs = Object.values(OPTIONS);
const commands = Object.keys(COMMAND_HELP);
const longFlag = (flag: string): string => flag.split(' ')[0] ?? flag;

async function help(command: string): Promise<string[]> {
  const result = await runCli([...command.split(' ').filter(Boolean), '--help'], {});
  expect(result.code, `${command} --help`).toBe(0);
  return result.output.trimEnd().split('\n');
}

describe('redispatch --help, per command', () => {
  it('every command has a help layout, and no help page is longer than 60 lines', async () => {
    const root = await help('');
    expect(root.length).toBeLessThanOrEqual(60);
    const afterHeading = root.slice(root.indexOf('Commands:') + 1);
    const listed = afterHeading
      .slice(0, afterHeading.indexOf(''))
      .map((line) => /^ {2}([a-z-]+)/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined && name !== 'help');
    expect(listed.length).toBeGreaterThan(5);
    for (const name of listed)
      expect(
        commands.some((path) => path.split(' ')[0] === name),
        name,
      ).toBe(true);
    for (const command of commands) {
      const lines = await help(command);
      expect(lines.length, `${command} --help is ${lines.length} lines`).toBeLessThanOrEqual(60);
      expect(lines.join('\n'), command).toContain('Examples:');
      for (const key of COMMAND_HELP[command]?.settings ?? [])
        expect(lines.join('\n'), `${command} shows ${key}`).toContain(longFlag(OPTIONS[key].flag));
    }
  });

  it('worker --help shows --handler as required, in its first 15 lines', async () => {
    const lines = await help('worker');
    expect(lines[0]).toContain('--handler <module>');
    const at = lines.findIndex((line) => line.trimStart().startsWith('--handler'));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(15);
    expect(lines[at]).toContain('required');
  });

  it("up --help documents the embedded Redis as --redis-url's default, not 127.0.0.1:6379", async () => {
    const text = (await help('up')).join('\n');
    expect(text).toContain('embedded');
    expect(text).not.toContain('redis://127.0.0.1:6379');
  });

  it('redispatch options lists every setting: its variable, its flag and its default', async () => {
    const result = await runCli(['options'], {});
    expect(result.code).toBe(0);
    for (const spec of specs) {
      const line = result.lines.find((text) => text.includes(` ${spec.env}`));
      expect(line, spec.env).toBeDefined();
      expect(line).toContain(longFlag(spec.flag));
      if (spec.default !== undefined) expect(line).toContain(`default ${spec.default}`);
    }
  });

  it('a setting hidden from a help page is still accepted by that command', async () => {
    const stats = (await help('stats')).join('\n');
    expect(stats).not.toContain('--lease-ms');
    expect(stats).not.toContain('--batch-size');
    const prefix = uniquePrefix('help');
    await fx.admin.hset(createKeys(prefix).totals, 'accepted', '3');
    const result = await runCli(
      [
        'stats',
        '--json',
        '--lease-ms',
        '5000',
        '--batch-size',
        '7',
        '--redis-url',
        fx.redis.url,
        '--prefix',
        prefix,
      ],
      {},
    );
    expect(result.code, result.output).toBe(0);
    expect(JSON.parse(result.output).totals.accepted).toBe(3);
  });

  it('every command parses every setting: bad values give configuration errors, never "unknown option"', async () => {
    // Numbers, URLs, enums and files all refuse this value; free-form strings take it. Either way,
    // a flag commander did not know would stop the parse before the configuration is loaded.
    const everySetting = specs.flatMap((spec) => [longFlag(spec.flag), 'not*valid']);
    for (const command of commands.filter((path) => path !== 'options')) {
      const own =
        (
          {
            publish: ['--count', '1'],
            'dlq replay': ['--all'],
            'schedule add': ['n', '--every', '1000', '--body', 'x'],
            'schedule remove': ['n'],
          } as Record<string, string[]>
        )[command] ?? [];
      const result = await runCli([...command.split(' '), ...own, ...everySetting], {});
      expect(result.output, command).not.toMatch(/unknown option|too many arguments/);
      expect(result.code, `${command}: ${result.output}`).toBe(2);
      expect(result.output, command).toContain('REDISPATCH_LEASE_MS');
      expect(result.output, command).toContain('REDISPATCH_TLS_INSECURE');
    }
  });
});
