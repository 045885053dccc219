import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
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

/** A plain connection to each node as `auth` (a superuser), for ACL LOG (the log is per node too). */
export async function connectOnEveryNode(
  nodes: readonly { port: number }[],
  auth: { username: string; password: string },
  clients: { disconnect(): void }[],
): Promise<Redis[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const redis = new Redis({ host: '127.0.0.1', port: node.port, ...auth, lazyConnect: true });
      redis.on('error', () => {});
      clients.push(redis);
      await redis.connect();
      return redis;
    }),
  );
}

/** ACL LOG entries as objects (each is a flat field/value list). */
export function denialsOf(log: unknown): Record<string, unknown>[] {
  return (log as unknown[][]).map((entry) => {
    const fields: Record<string, unknown> = {};
    for (let i = 0; i + 1 < entry.length; i += 2) fields[String(entry[i])] = entry[i + 1];
    return { reason: fields.reason, object: fields.object, username: fields.username };
  });
}
