import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childEnv } from './cli-process.js';

const ACL_SCRIPT = fileURLToPath(new URL('../../../scripts/acl.mjs', import.meta.url));

/**
 * Runs the shipped generator (scripts/acl.mjs) with `args`, passing each role's password as the
 * `ACL_PASSWORD_<ROLE>` variable it reads, and returns what it printed. The ACL tests load that output
 * as redis-server's ACL file so they check the users we document, not a copy of them.
 */
export function generateAclUsers(
  args: readonly string[],
  passwords: Readonly<Record<string, string>>,
): string {
  const env = Object.fromEntries(
    Object.entries(passwords).map(([role, password]) => [`ACL_PASSWORD_${role.toUpperCase()}`, password]),
  );
  const result = spawnSync(process.execPath, [ACL_SCRIPT, ...args], {
    env: childEnv(env),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`scripts/acl.mjs ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}
