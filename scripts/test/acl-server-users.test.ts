import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 22 item 5: `scripts/acl.mjs --server-users` writes a whole aclfile for a server: `default`
// off, a `replicator` user for replicas, the operator's `ops`, then the roles (deploy/overlays).
const SCRIPT = fileURLToPath(new URL('../acl.mjs', import.meta.url));
const ENV = {
  ...Object.fromEntries(
    ['DISPATCHER', 'WORKER', 'ADMIN', 'PUBLISHER', 'RELAY', 'LOCK'].map((r) => [
      `ACL_PASSWORD_${r}`,
      `pw-${r}`,
    ]),
  ),
  ACL_PASSWORD_REPLICATOR: 'pw-replicator',
  ACL_PASSWORD_OPS: 'pw-ops',
};
const hash = (password: string) => `#${createHash('sha256').update(password).digest('hex')}`;

function run(args: string[], env: Record<string, string> = ENV) {
  try {
    const stdout = execFileSync(process.execPath, [SCRIPT, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('scripts/acl.mjs --server-users', () => {
  it('adds default off, replicator and ops before the roles, with hashed passwords only', () => {
    const { code, stdout } = run(['--format', 'acl-file', '--server-users']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'user default off resetpass resetkeys resetchannels -@all',
      `user replicator on ${hash('pw-replicator')} resetkeys resetchannels -@all +psync +replconf +ping`,
      `user ops on ${hash('pw-ops')} ~* &* +@all`,
    ]);
    expect(lines.slice(3).map((line) => line.split(' ')[1])).toEqual([
      'rd-dispatcher',
      'rd-worker',
      'rd-admin',
      'rd-publisher',
      'rd-relay',
    ]);
    expect(stdout).not.toContain('pw-');
  });

  it("writes the lock masters' file with the lock user only", () => {
    const { stdout } = run(['--format', 'acl-file', '--server-users', '--target', 'lock']);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[1]),
    ).toEqual(['default', 'replicator', 'ops', 'rd-lock']);
  });

  it("refuses without acl-file format, or without the servers' passwords, in one line", () => {
    const commands = run(['--server-users']);
    expect(commands.code).toBe(2);
    expect(commands.stderr.trim()).toBe('acl: --server-users needs --format acl-file');
    const { ACL_PASSWORD_OPS: _ops, ...withoutOps } = ENV;
    const missing = run(['--format', 'acl-file', '--server-users'], withoutOps);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe("acl: set ACL_PASSWORD_OPS (the users' passwords)");
  });
});
