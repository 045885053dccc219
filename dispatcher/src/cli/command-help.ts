import type { OptionKey } from '@redispatch/shared';

/**
 * What each command's `--help` shows. Every command accepts every setting (a contract), but a help
 * page listing all of them buries the few a command uses; the rest stay accepted, hidden from
 * the page, and `redispatch options` lists them all.
 */
export interface CommandHelp {
  /** Settings shown on this command's help page, in this order (the rest are hidden). */
  settings: readonly OptionKey[];
  /** Per-command wording of a setting, where its meaning or default differs for this command. */
  describe?: Partial<Record<OptionKey, string>>;
  /** Usage line after the command name, when `[options]` alone would hide a required flag. */
  usage?: string;
  /** Two or three command lines that work as written (after `npm ci && npm run build` in the clone). */
  examples: readonly string[];
}

const CONNECTION: readonly OptionKey[] = ['redisUrl', 'prefix', 'mode', 'clusterNodes'];

/** Keyed by the command's path below `redispatch`, e.g. "dlq list". */
export const COMMAND_HELP: Readonly<Record<string, CommandHelp>> = {
  dispatcher: {
    settings: [...CONNECTION, 'lockUrls', 'channel', 'ingress', 'leaseMs', 'metricsPort', 'instanceId'],
    examples: [
      'redispatch dispatcher --redis-url redis://127.0.0.1:6379          # run 3 of these; one leads',
      'redispatch dispatcher --mode streams --cluster-nodes 10.0.0.1:6379,10.0.0.2:6379',
      'REDISPATCH_INGRESS=nats REDISPATCH_NATS_URL=nats://127.0.0.1:4222 redispatch dispatcher',
    ],
  },
  worker: {
    settings: [
      'handler',
      'concurrency',
      ...CONNECTION,
      'isolate',
      'ackTimeoutMs',
      'maxAttempts',
      'metricsPort',
    ],
    describe: {
      handler:
        'required: the handler module; its default export is async (msg) => unknown [REDISPATCH_HANDLER]',
    },
    usage: '--handler <module> [options]',
    examples: [
      'redispatch worker --handler ./handler.mjs --concurrency 32',
      'redispatch worker --handler ./handler.mjs --isolate          # handler in child processes',
      'REDISPATCH_HANDLER=./handler.mjs redispatch worker --metrics-port 0',
    ],
  },
  publish: {
    settings: ['redisUrl', 'channel', 'ingress', 'natsUrl'],
    examples: [
      'redispatch publish --count 100000 --rate 20000',
      'redispatch publish --count 10 --size 4096 --delay 5000       # delivered 5 s later',
      'redispatch publish --count 1000 --json                       # a JSON summary',
      'redispatch publish --count 1 --body \'{"job":1}\' --message-id job-1   # one real message',
      'redispatch publish --count 1 --body-file job.json --attempts 3 --ttl 60000 --priority 9',
    ],
  },
  stats: {
    settings: CONNECTION,
    examples: ['redispatch stats', 'redispatch stats --watch 2', 'redispatch stats --json --prefix rd'],
  },
  pause: {
    settings: CONNECTION,
    examples: ['redispatch pause', 'redispatch pause --mode streams --cluster-nodes 127.0.0.1:7000 --json'],
  },
  resume: {
    settings: CONNECTION,
    examples: ['redispatch resume', 'redispatch resume --wait 10000'],
  },
  'schedule add': {
    settings: CONNECTION,
    usage:
      '<name> (--cron "<expr>" [--tz <zone>] | --every <ms>) (--body <text> | --body-file <file>) [--missed skip|once]',
    examples: [
      'redispatch schedule add nightly --cron "0 3 * * *" --tz Europe/Berlin --body \'{"job":"report"}\'',
      'redispatch schedule add heartbeat --every 1000 --body ping --missed once',
    ],
  },
  'schedule list': {
    settings: CONNECTION,
    examples: ['redispatch schedule list', 'redispatch schedule list --json'],
  },
  'schedule remove': {
    settings: CONNECTION,
    examples: ['redispatch schedule remove heartbeat'],
  },
  'dlq list': {
    settings: CONNECTION,
    examples: ['redispatch dlq list', 'redispatch dlq list --limit 100 --json'],
  },
  'dlq replay': {
    settings: CONNECTION,
    examples: ['redispatch dlq replay --all', 'redispatch dlq replay <id> <id>        # ids from dlq list'],
  },
  'dlq purge': {
    settings: CONNECTION,
    examples: ['redispatch dlq purge', 'redispatch dlq purge --prefix rd --redis-url redis://127.0.0.1:6379'],
  },
  up: {
    settings: ['redisUrl', 'mode', 'clusterNodes', 'metricsPort', 'relayPort'],
    describe: {
      redisUrl:
        'Data Redis to use instead of starting one [REDISPATCH_REDIS_URL, default: an embedded redis-server (or a Docker container) on a free port]',
      clusterNodes:
        'Streams mode: the cluster to use [REDISPATCH_CLUSTER_NODES, default: an embedded 3-master cluster]',
      metricsPort:
        'First metrics port; each process takes the next one (0: free ports) [REDISPATCH_METRICS_PORT, default 9477]',
    },
    examples: [
      'redispatch up',
      'redispatch up --handler ./handler.mjs --publish-rate 10',
      'redispatch up --mode streams --workers 2                     # embedded 3-master cluster',
    ],
  },
  console: {
    settings: [...CONNECTION, 'consolePort', 'consoleHost', 'consoleToken'],
    examples: [
      'redispatch console                                   # http://127.0.0.1:9480/ (read-only)',
      'REDISPATCH_CONSOLE_TOKEN=$(openssl rand -hex 24) redispatch console --console-port 9480',
    ],
  },
  relay: {
    settings: [
      'instanceId',
      'relayPort',
      'relayHost',
      'redisUrl',
      'prefix',
      'channel',
      'relayHttp',
      'httpAllow',
      'relayOrigins',
      'relayAuth',
      'relayTlsCertFile',
      'relayTlsKeyFile',
    ],
    examples: [
      'redispatch relay --instance-id relay-1 --relay-port 8080',
      'redispatch relay --instance-id relay-1 --relay-origins https://app.example.com --relay-auth ./relay-auth.mjs',
      'redispatch relay --instance-id deliverer-1 --relay-port -1  # HTTP reply deliverer only',
    ],
  },
  'outbound-dlq list': {
    settings: ['redisUrl', 'prefix'],
    examples: ['redispatch outbound-dlq list', 'redispatch outbound-dlq list --limit 5 --json'],
  },
  'results tail': {
    settings: CONNECTION,
    examples: ['redispatch results tail', 'redispatch results tail --json --from-start --count 10'],
  },
  'outbound-dlq purge': {
    settings: ['redisUrl', 'prefix'],
    examples: ['redispatch outbound-dlq purge'],
  },
  options: {
    settings: [],
    examples: ['redispatch options', 'redispatch options | grep REDISPATCH_NATS'],
  },
};
