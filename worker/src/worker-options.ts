import {
  type Config,
  defaultInstanceId,
  type Logger,
  type OptionKey,
  settingDefault,
  type TlsSettings,
  tlsSettingsFrom,
  validateLibraryOptions,
} from '@redispatch/shared';
import type { Registry } from 'prom-client';
import type { IsolateOptions } from './isolate/isolate-options.js';
import type { Handler } from './message.js';

/**
 * Options for the library; the CLI fills them from the validated config (`workerOptionsFrom`).
 * Defaults, validation and the CLI mapping all come from the settings table via WORKER_SETTINGS:
 * a new worker setting is one table entry (shared/src/config) plus its name here and there.
 */
export interface WorkerOptions {
  redisUrl: string;
  /** Runs in this process. Give either `handler` or `isolate`. */
  handler?: Handler;
  /** Runs the handler module in a pool of child processes, so a crashing handler cannot take the worker down. */
  isolate?: IsolateOptions;
  /** @default REDISPATCH_PREFIX's default ("rd") */
  prefix?: string;
  /** Stable identity; a restarted worker with the same id resumes its queue. @default host-pid-random */
  id?: string;
  /** @default REDISPATCH_CONCURRENCY's default */
  concurrency?: number;
  /** Claims beyond free handler slots (keeps the pipe full for very short handlers). @default 0 */
  prefetch?: number;
  /** @default REDISPATCH_ACK_TIMEOUT_MS's default */
  ackTimeoutMs?: number;
  /** @default REDISPATCH_HEARTBEAT_MS's default */
  heartbeatMs?: number;
  /** @default REDISPATCH_MAX_ATTEMPTS's default */
  maxAttempts?: number;
  /** @default REDISPATCH_BACKOFF_BASE_MS's default */
  backoffBaseMs?: number;
  /** @default REDISPATCH_BACKOFF_MAX_MS's default */
  backoffMaxMs?: number;
  /** @default REDISPATCH_DRAIN_TIMEOUT_MS's default */
  drainTimeoutMs?: number;
  /** @default REDISPATCH_COMMAND_TIMEOUT_MS's default */
  commandTimeoutMs?: number;
  /** Most replies one outbound queue holds; past it a reply is dead-lettered. @default REDISPATCH_OUTBOUND_MAX's default */
  outboundMax?: number;
  tls?: TlsSettings;
  /** `lists` (default) or `streams`. */
  mode?: 'lists' | 'streams';
  /** Streams mode: Redis Cluster seed nodes (`host:port`); empty = the single Redis at `redisUrl`. */
  clusterNodes?: readonly string[];
  /** Streams mode: announced cluster node address -> the address to connect to (NAT, port forwards). */
  clusterNatMap?: Readonly<Record<string, { host: string; port: number }>>;
  /** Streams mode: @default REDISPATCH_PARTITIONS's default (must match the deployment's partition table). */
  partitions?: number;
  /** Streams mode: @default "workers" */
  consumerGroup?: string;
  /** Extend the claims of running handlers every third of the ack timeout. @default false */
  autoExtend?: boolean;
  /** Longest a handler runs while its claim is extended. @default REDISPATCH_HANDLER_TIMEOUT_MS's default */
  handlerTimeoutMs?: number;
  /** `stream`: acked handlers' return values go to the results stream. @default 'off' */
  results?: 'off' | 'stream';
  /** Approximate cap of each results stream. @default REDISPATCH_RESULTS_MAXLEN's default */
  resultsMaxLen?: number;
  logger?: Logger;
  registry?: Registry;
}

/** Each worker option that is a setting → the setting (the table's key) it comes from. */
const WORKER_SETTINGS = {
  redisUrl: 'redisUrl',
  prefix: 'prefix',
  id: 'instanceId',
  concurrency: 'concurrency',
  prefetch: 'prefetch',
  ackTimeoutMs: 'ackTimeoutMs',
  heartbeatMs: 'heartbeatMs',
  maxAttempts: 'maxAttempts',
  backoffBaseMs: 'backoffBaseMs',
  backoffMaxMs: 'backoffMaxMs',
  drainTimeoutMs: 'drainTimeoutMs',
  commandTimeoutMs: 'commandTimeoutMs',
  outboundMax: 'outboundMax',
  mode: 'mode',
  clusterNodes: 'clusterNodes',
  clusterNatMap: 'clusterNatMap',
  partitions: 'partitions',
  consumerGroup: 'consumerGroup',
  autoExtend: 'autoExtend',
  handlerTimeoutMs: 'handlerTimeoutMs',
  results: 'results',
  resultsMaxLen: 'resultsMaxlen',
} as const satisfies { readonly [K in keyof WorkerOptions]?: OptionKey };

/** The isolate options that are settings. */
const ISOLATE_SETTINGS = {
  poolSize: 'isolatePool',
  maxMemoryMb: 'isolateMaxMemoryMb',
} as const satisfies { readonly [K in keyof IsolateOptions]?: OptionKey };

type WorkerSetting = keyof typeof WORKER_SETTINGS;

/** The options a Worker runs on: every setting filled in (the table's default where not given). */
export type ResolvedWorkerOptions = {
  [K in Exclude<WorkerSetting, 'clusterNatMap'>]-?: NonNullable<WorkerOptions[K]>;
} & {
  clusterNatMap: WorkerOptions['clusterNatMap'];
  tls: TlsSettings;
};

/** A table of settings read one way (their defaults, or a config's values), typed per entry. */
type FromTable<T extends Readonly<Record<string, OptionKey>>> = { -readonly [K in keyof T]: Config[T[K]] };

function fromTable<T extends Readonly<Record<string, OptionKey>>>(
  table: T,
  read: <K extends OptionKey>(key: K) => Config[K],
): FromTable<T> {
  const out: Partial<FromTable<T>> = {};
  for (const name in table) {
    // `name` comes from the table itself, so its entry exists (noUncheckedIndexedAccess cannot tell).
    const key = table[name] as T[typeof name];
    out[name] = read(key);
  }
  return out as FromTable<T>;
}

/** Every worker setting's table default, plus what the table cannot say (a fresh id, no TLS, no seeds). */
function workerDefaults(): Omit<ResolvedWorkerOptions, 'redisUrl'> {
  const { redisUrl: _redisUrl, ...defaults } = fromTable(WORKER_SETTINGS, settingDefault);
  return { ...defaults, id: defaultInstanceId(), clusterNodes: [], tls: { insecure: false } };
}

/** The given options over the defaults (an option given as undefined counts as not given). */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const given: WorkerOptions = { ...options };
  for (const name of Object.keys(given) as (keyof WorkerOptions)[])
    if (given[name] === undefined) delete given[name];
  return { ...workerDefaults(), ...given };
}

/** The worker's settings from a validated config: what the CLI passes to `new Worker`. */
export function workerOptionsFrom(config: Config): Pick<WorkerOptions, WorkerSetting | 'tls'> {
  return { ...fromTable(WORKER_SETTINGS, (key) => config[key]), tls: tlsSettingsFrom(config) };
}

/** The isolate options from a validated config, for the handler module `module`. */
export function isolateOptionsFrom(config: Config, module: string): IsolateOptions {
  return { module, ...fromTable(ISOLATE_SETTINGS, (key) => config[key]) };
}

/** Library option name → setting, where the two differ (`id` → `instanceId`). */
const ALIASES: Record<string, OptionKey> = Object.fromEntries([
  ...Object.entries(WORKER_SETTINGS).filter(([name, key]) => name !== key),
  ...Object.entries(ISOLATE_SETTINGS).map(([name, key]) => [`isolate.${name}`, key]),
]);

/**
 * Checks every option that is also a setting with the CLI's schema (shared/src/config/options.ts) and
 * throws one ConfigError naming each bad option and its REDISPATCH_* variable.
 */
export function validateWorkerOptions(options: WorkerOptions): void {
  const isolate = Object.fromEntries(
    Object.keys(ISOLATE_SETTINGS).map((name) => [
      `isolate.${name}`,
      options.isolate?.[name as keyof IsolateOptions],
    ]),
  );
  validateLibraryOptions('Worker', { ...options, ...isolate }, ALIASES);
}
