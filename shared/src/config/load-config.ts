import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { defaultInstanceId, OPTIONS, type OptionKey } from './options.js';
import { relayOptionProblems } from './relay-options.js';

type Parsed<K extends OptionKey> = z.output<(typeof OPTIONS)[K]['schema']>;
type HasDefault<K extends OptionKey> = (typeof OPTIONS)[K]['default'] extends string ? K : never;

/** The validated, frozen configuration every process runs on. Durations are `…Ms` numbers. */
export type Config = Readonly<
  { [K in OptionKey as HasDefault<K>]: Parsed<K> } & {
    [K in Exclude<OptionKey, HasDefault<OptionKey>>]: K extends 'lockUrls' | 'instanceId'
      ? Parsed<K>
      : Parsed<K> | undefined;
  }
>;

/** Raw overrides from CLI flags, keyed like the config; `undefined` means "not given". */
export type ConfigFlags = Partial<Record<OptionKey, string | undefined>>;

const given = (value: string | undefined): string | undefined => (value === '' ? undefined : value);

/** Where a setting's value came from: a flag, the environment, or the table's default. */
export type SettingSource = 'flag' | 'env' | 'default';

// Kept beside the frozen config rather than in it, so the Config document stays the table's keys.
const sources = new WeakMap<object, ReadonlyMap<OptionKey, SettingSource>>();

/**
 * Where `key` of a config returned by `loadConfig` came from. A copy (`{ ...config }`) has no record
 * and answers 'default'. Lets a process treat a default more leniently than a value a user chose
 * (a taken default metrics port falls back to a free one; a chosen one fails).
 */
export function settingSource(config: Config, key: OptionKey): SettingSource {
  return sources.get(config)?.get(key) ?? 'default';
}

const SHOWN_VALUE_MAX = 60;

function quoteValue(raw: string): string {
  return JSON.stringify(raw.length > SHOWN_VALUE_MAX ? `${raw.slice(0, SHOWN_VALUE_MAX)}…` : raw);
}

/**
 * Validates one raw setting with its schema (the CLI's and the library's one check): the parsed
 * value, or the problem without the setting's name, ready to follow it on one line.
 */
/** A setting's default from the table, parsed by its schema (undefined for a setting without one). */
export function settingDefault<K extends OptionKey>(key: K): Config[K] {
  const spec = OPTIONS[key];
  // One cast for every key: the schema of `key` parses its default into exactly Config[K].
  return (
    spec.default === undefined ? undefined : (spec.schema as z.ZodType).parse(spec.default)
  ) as Config[K];
}

/** Whether a setting's value may carry a secret: marked in its table (the name is only a fallback). */
export function isSensitive(key: OptionKey): boolean {
  const spec: { sensitive?: string } = OPTIONS[key];
  return spec.sensitive !== undefined || /url|secret|password|token/i.test(key);
}

export function parseOption(
  key: OptionKey,
  raw: string,
): { ok: true; value: unknown } | { ok: false; problem: string } {
  const result = (OPTIONS[key].schema as z.ZodType).safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  const joined = result.error.issues.map((issue) => issue.message).join(', ');
  // A sensitive setting's problem may quote an entry (`entry 1 "https://u:p@h" has user info`):
  // credentials in any URL it quotes are cut out too.
  const message = isSensitive(key) ? joined.replace(/\/\/[^\s",]*@/g, '//***@') : joined;
  // A setting marked sensitive in its table (URLs, which may carry passwords; secrets) is never
  // echoed, whatever its name. Other values are quoted (JSON escapes newlines and control
  // characters, so one problem stays one line) and cut short.
  const shown = isSensitive(key) ? '' : ` (got ${quoteValue(raw)})`;
  return { ok: false, problem: `${message}${shown}` };
}

/**
 * Reads every setting from flags (highest precedence), then the environment, then the defaults,
 * validates them all, and throws one ConfigError listing every problem, each naming its variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: ConfigFlags = {}): Config {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const origin = new Map<OptionKey, SettingSource>();
  for (const key of Object.keys(OPTIONS) as OptionKey[]) {
    const spec = OPTIONS[key];
    origin.set(
      key,
      given(flags[key]) !== undefined ? 'flag' : given(env[spec.env]) !== undefined ? 'env' : 'default',
    );
    // An empty value means "not set" at every level, so `REDISPATCH_REDIS_URL=` falls back to the
    // default instead of leaving a setting that has one undefined.
    const raw = given(flags[key]) ?? given(env[spec.env]) ?? spec.default;
    if (raw === undefined) {
      values[key] = undefined;
      continue;
    }
    const parsed = parseOption(key, raw);
    if (parsed.ok) values[key] = parsed.value;
    else problems.push(`${spec.env} (${spec.flag.split(' ')[0]}) ${parsed.problem}`);
  }

  if (values.lockUrls === undefined || (values.lockUrls as string[]).length === 0) {
    // Streams mode on a cluster: with no lock masters named, the lease lives on the cluster itself
    // (an empty list tells the lease to use the cluster connection).
    const onCluster =
      values.mode === 'streams' && ((values.clusterNodes as string[] | undefined)?.length ?? 0) > 0;
    values.lockUrls = onCluster || values.redisUrl === undefined ? [] : [values.redisUrl];
  }
  values.instanceId ??= defaultInstanceId();

  const num = (key: OptionKey) => values[key] as number | undefined;
  const heartbeat = num('heartbeatMs');
  const ttl = num('workerTtlMs');
  if (heartbeat !== undefined && ttl !== undefined && ttl < 2 * heartbeat) {
    problems.push(
      `REDISPATCH_WORKER_TTL_MS must be at least twice REDISPATCH_HEARTBEAT_MS (${ttl} < 2 x ${heartbeat}), or a live worker is declared dead`,
    );
  }
  const retention = num('relayRetentionMs');
  if (heartbeat !== undefined && retention !== undefined && retention < 2 * heartbeat) {
    problems.push(
      `REDISPATCH_RELAY_RETENTION_MS must be at least twice REDISPATCH_HEARTBEAT_MS (${retention} < 2 x ${heartbeat}), or a live relay is swept`,
    );
  }
  const base = num('backoffBaseMs');
  const max = num('backoffMaxMs');
  if (base !== undefined && max !== undefined && base > max) {
    problems.push(`REDISPATCH_BACKOFF_BASE_MS (${base}) must not exceed REDISPATCH_BACKOFF_MAX_MS (${max})`);
  }
  const lease = num('leaseMs');
  const bufferAge = num('standbyBufferAgeMs');
  if (lease !== undefined && bufferAge !== undefined && bufferAge > 0 && bufferAge < 3 * lease) {
    problems.push(
      `REDISPATCH_STANDBY_BUFFER_AGE_MS (${bufferAge}) must be at least 3 x REDISPATCH_LEASE_MS (${lease}): a failover takes up to about two leases, and the buffer must still hold the gap`,
    );
  }
  const pool = num('isolatePool');
  const concurrency = num('concurrency');
  if (pool !== undefined && concurrency !== undefined && pool > concurrency) {
    problems.push(
      `REDISPATCH_ISOLATE_POOL (${pool}) must not exceed REDISPATCH_CONCURRENCY (${concurrency}): a handler process beyond one per slot would never run anything`,
    );
  }
  const lockCount = (values.lockUrls as string[]).length;
  if (lockCount % 2 === 0 && lockCount > 0) {
    problems.push(
      `REDISPATCH_LOCK_URLS has ${lockCount} masters; use an odd number (1, 3, 5) so a quorum is a strict majority`,
    );
  }

  const clusterNodes = values.clusterNodes as string[] | undefined;
  if (clusterNodes !== undefined && clusterNodes.length > 0 && values.mode === 'lists') {
    problems.push(
      'REDISPATCH_CLUSTER_NODES is set but REDISPATCH_MODE is "lists": lists mode keeps every key in one slot of REDISPATCH_REDIS_URL; set REDISPATCH_MODE=streams to use a Redis Cluster',
    );
  }

  const natMap = values.clusterNatMap as Record<string, unknown> | undefined;
  if (natMap !== undefined && Object.keys(natMap).length > 0 && !(clusterNodes?.length ?? 0)) {
    problems.push(
      'REDISPATCH_CLUSTER_NAT_MAP is set but REDISPATCH_CLUSTER_NODES is not: address translation applies to Redis Cluster nodes only',
    );
  }

  problems.push(...relayOptionProblems(values));

  if (problems.length > 0) throw new ConfigError(problems);
  const config = Object.freeze(values) as Config;
  sources.set(config, origin);
  return config;
}
