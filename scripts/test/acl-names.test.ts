import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 22 item 5: scripts/acl.mjs validates every name it writes into ACL rules, so a crafted
// --channel or --prefix cannot add rules (`redispatch +@all ~*` would grant every command and key).
const SCRIPT = fileURLToPath(new URL('../acl.mjs', import.meta.url));
const PASSWORDS = Object.fromEntries(
  ['DISPATCHER', 'WORKER', 'ADMIN', 'PUBLISHER', 'RELAY', 'LOCK'].map((role) => [
    `ACL_PASSWORD_${role}`,
    'pw',
  ]),
);

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [SCRIPT, ...args], {
      env: { ...process.env, ...PASSWORDS },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('scripts/acl.mjs names', () => {
  it.each([
    ['--channel', 'redispatch +@all ~*'],
    ['--channel', 'in&*'],
    ['--prefix', 'rd}:* ~*'],
    ['--prefix', 'rd (+@all'],
  ])('refuses %s %j with a one-line error and prints no rule', (flag, value) => {
    const result = run([flag, value]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      new RegExp(`^acl: ${flag} .* may contain only letters, digits and \\. _ : -`),
    );
  });

  it('accepts the names the settings accept', () => {
    const result = run(['--prefix', 'rd-2024.prod', '--channel', 'orders:in', '--mode', 'streams']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('&orders:in');
  });
});
