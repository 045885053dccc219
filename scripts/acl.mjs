// Prints least-privilege Redis ACL users for one deployment (rules: shared/src/security/acl.ts).
// Usage (after npm run build):
//   ACL_PASSWORD_DISPATCHER=… ACL_PASSWORD_WORKER=… ACL_PASSWORD_ADMIN=… ACL_PASSWORD_PUBLISHER=… \
//   ACL_PASSWORD_RELAY=… node scripts/acl.mjs [--prefix rd] [--channel redispatch] \
//     [--format commands|acl-file] [--target data|lock] [--mode lists|streams]
// --target data (default): the data Redis (dispatcher, worker, admin, publisher, relay users).
// --target lock: a dedicated Redlock master (one lock user; ACL_PASSWORD_LOCK).
// --mode streams: REDISPATCH_MODE=streams on a Redis Cluster; load the same users on EVERY node
// (ACL users are per node, not replicated by the cluster bus). Add
// --partition-table "$(redis-cli -c GET '{rd}:partitions')" so the partition patterns name exactly
// this deployment's partitions (without it they also match a prefix like rd:2024).
// --key-concurrency (streams mode): for REDISPATCH_KEY_CONCURRENCY, the worker user may XADD into the
// partition streams (its settle appends a key's next held message with the ack); without it, only
// into the dead-letter and results streams.
// --server-users (with --format acl-file): also `user default off`, the `replicator` user for
// replicas (ACL_PASSWORD_REPLICATOR) and the operator's `ops` user (ACL_PASSWORD_OPS), so the
// output is a whole aclfile for a server (deploy/README.md, "Per-role Redis users").
// Passwords are read from the environment and printed only as SHA-256 hashes (#…), never in clear.
import { aclFileLine, aclRules, aclSetUserArgs, aclUserName, serverUserLines } from '@redispatch/shared';

const USAGE =
  'usage: node scripts/acl.mjs [--prefix rd] [--channel redispatch] [--format commands|acl-file] [--target data|lock] [--mode lists|streams] [--partition-table <json>] [--key-concurrency] [--server-users]';

/** Quotes an argument for redis-cli when it holds characters the shell or redis-cli would split on. */
function quote(arg) {
  return /^[\w~&#%+|:{}.*@,=-]+$/.test(arg)
    ? arg
    : `"${arg.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/**
 * Every name the output carries (prefix, channel; user names and key patterns derive from the
 * prefix) must be one token of the settings' own alphabet: a space, `~`, `&`, `+`, `%`, `(`, `>` or
 * a glob character would turn a name into extra ACL rules (`--channel "redispatch +@all ~*"`).
 */
const NAME = /^[A-Za-z0-9._:-]+$/;

function checkName(flag, value) {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new Error(
      `${flag} ${JSON.stringify(String(value))} may contain only letters, digits and . _ : - (it is written into ACL rules)`,
    );
  }
}

export function aclOutput({
  prefix = 'rd',
  channel = 'redispatch',
  format = 'commands',
  target = 'data',
  mode = 'lists',
  partitionTable,
  serverUsers = false,
  keyConcurrency = false,
  env,
}) {
  checkName('--prefix', prefix);
  checkName('--channel', channel);
  let partitionTags;
  if (partitionTable !== undefined) {
    try {
      partitionTags = JSON.parse(partitionTable);
    } catch {
      partitionTags = undefined;
    }
    if (!Array.isArray(partitionTags) || partitionTags.some((tag) => typeof tag !== 'string'))
      throw new Error('--partition-table expects the JSON list stored in {prefix}:partitions');
  }
  const roles = target === 'lock' ? ['lock'] : ['dispatcher', 'worker', 'admin', 'publisher', 'relay'];
  if (serverUsers && format !== 'acl-file') throw new Error('--server-users needs --format acl-file');
  const named = serverUsers ? [...roles, 'replicator', 'ops'] : roles;
  const missing = named.map((role) => `ACL_PASSWORD_${role.toUpperCase()}`).filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`set ${missing.join(', ')} (the users' passwords)`);
  const server = serverUsers
    ? serverUserLines({ replicator: env.ACL_PASSWORD_REPLICATOR, ops: env.ACL_PASSWORD_OPS })
    : [];
  const roleLines = roles.map((role) => {
    const user = aclUserName(role, prefix);
    const password = env[`ACL_PASSWORD_${role.toUpperCase()}`];
    const rules = aclRules(role, {
      prefix,
      channel,
      mode,
      ...(partitionTags ? { partitionTags } : {}),
      ...(keyConcurrency ? { keyConcurrency } : {}),
    });
    return format === 'acl-file'
      ? aclFileLine(user, password, rules)
      : `ACL SETUSER ${aclSetUserArgs(user, password, rules).map(quote).join(' ')}`;
  });
  return [...server, ...roleLines];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const options = { env: process.env };
  const allowed = {
    '--prefix': 'prefix',
    '--channel': 'channel',
    '--format': 'format',
    '--target': 'target',
    '--mode': 'mode',
    '--partition-table': 'partitionTable',
  };
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--server-users' || args[i] === '--key-concurrency') {
      options[args[i] === '--server-users' ? 'serverUsers' : 'keyConcurrency'] = true;
      i -= 1;
      continue;
    }
    const key = allowed[args[i]];
    const value = args[i + 1];
    if (!key || value === undefined) {
      process.stderr.write(`acl: unexpected argument "${args[i]}"\n${USAGE}\n`);
      process.exit(2);
    }
    options[key] = value;
  }
  if (
    !['commands', 'acl-file'].includes(options.format ?? 'commands') ||
    !['data', 'lock'].includes(options.target ?? 'data') ||
    !['lists', 'streams'].includes(options.mode ?? 'lists')
  ) {
    process.stderr.write(
      `acl: --format is commands or acl-file, --target is data or lock, --mode is lists or streams\n${USAGE}\n`,
    );
    process.exit(2);
  }
  try {
    process.stdout.write(`${aclOutput(options).join('\n')}\n`);
  } catch (error) {
    process.stderr.write(`acl: ${error.message}\n`);
    process.exit(2);
  }
}
