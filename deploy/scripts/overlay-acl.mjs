// Writes an overlay's Redis ACL files from the passwords in its Secrets' env files, so the servers'
// users always match the URLs the roles connect with (deploy/README.md, "Per-role Redis users"):
//   secrets/users.acl       data Redis (every node in streams mode): the roles' users, `replicator`,
//                           `ops`, `default` off
//   secrets/lock-users.acl  lock masters (when the dispatcher's env has REDISPATCH_LOCK_URLS)
// Passwords come from secrets/redis-<role>.env (the user in REDISPATCH_REDIS_URL / LOCK_URLS) and
// secrets/redis-auth.env (REDIS_PASSWORD: ops, REPLICATOR_PASSWORD); the files hold only hashes.
// usage (after npm run build): node deploy/scripts/overlay-acl.mjs deploy/overlays/lists [--check]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aclOutput } from '../../scripts/acl.mjs';

const ROLES = ['dispatcher', 'worker', 'admin', 'publisher', 'relay'];

function readEnv(path) {
  const values = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) values[match[1]] = match[2];
  }
  return values;
}

/** The password of `user` in a redis:// URL, refusing a URL for another user. */
function passwordOf(url, user, where) {
  const parsed = new URL(url);
  if (decodeURIComponent(parsed.username) !== user)
    throw new Error(`${where}: expected user ${user}, found ${JSON.stringify(parsed.username)}`);
  return decodeURIComponent(parsed.password);
}

export function overlayAclFiles(overlayDir, { prefix = 'rd', channel = 'redispatch' } = {}) {
  const secrets = join(overlayDir, 'secrets');
  const kustomization = readFileSync(join(overlayDir, 'kustomization.yaml'), 'utf8');
  const mode = /REDISPATCH_MODE=(lists|streams)/.exec(kustomization)?.[1] ?? 'lists';
  const auth = readEnv(join(secrets, 'redis-auth.env'));
  const env = { ACL_PASSWORD_OPS: auth.REDIS_PASSWORD, ACL_PASSWORD_REPLICATOR: auth.REPLICATOR_PASSWORD };
  let lockUrls;
  for (const role of ROLES) {
    const file = join(secrets, `redis-${role}.env`);
    const values = readEnv(file);
    env[`ACL_PASSWORD_${role.toUpperCase()}`] = passwordOf(
      values.REDISPATCH_REDIS_URL,
      `${prefix}-${role}`,
      file,
    );
    if (role === 'dispatcher') lockUrls = values.REDISPATCH_LOCK_URLS;
  }
  const common = { prefix, channel, format: 'acl-file', serverUsers: true, env };
  const files = { 'users.acl': aclOutput({ ...common, mode }) };
  if (lockUrls) {
    const passwords = new Set(
      lockUrls.split(',').map((url) => passwordOf(url, `${prefix}-lock`, 'LOCK_URLS')),
    );
    if (passwords.size !== 1)
      throw new Error('REDISPATCH_LOCK_URLS: one lock user password for every master');
    env.ACL_PASSWORD_LOCK = [...passwords][0];
    files['lock-users.acl'] = aclOutput({ ...common, target: 'lock' });
  }
  return Object.fromEntries(Object.entries(files).map(([name, lines]) => [name, `${lines.join('\n')}\n`]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [overlayDir, flag] = process.argv.slice(2);
  if (!overlayDir || !existsSync(join(overlayDir, 'secrets')) || (flag && flag !== '--check')) {
    process.stderr.write(
      'usage: node deploy/scripts/overlay-acl.mjs <overlay dir with secrets/> [--check]\n',
    );
    process.exit(2);
  }
  try {
    let stale = 0;
    for (const [name, text] of Object.entries(overlayAclFiles(overlayDir))) {
      const path = join(overlayDir, 'secrets', name);
      if (flag === '--check') {
        if (!existsSync(path) || readFileSync(path, 'utf8') !== text) {
          process.stderr.write(`${path} does not match the Secrets' passwords\n`);
          stale += 1;
        }
      } else {
        writeFileSync(path, text);
        process.stdout.write(`wrote ${path}\n`);
      }
    }
    process.exit(stale === 0 ? 0 : 1);
  } catch (error) {
    process.stderr.write(`overlay-acl: ${error.message}\n`);
    process.exit(2);
  }
}
