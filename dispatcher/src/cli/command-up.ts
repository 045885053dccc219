import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { formatStats, statsFor } from './command-stats.js';
import { configFrom, exitWithError } from './config-flags.js';

const CLI_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const DEMO_HANDLER = fileURLToPath(new URL('./demo-handler.js', import.meta.url));
const NOOP_HANDLER = fileURLToPath(new URL('./noop-handler.js', import.meta.url));
const ECHO_HANDLER = fileURLToPath(new URL('./echo-handler.js', import.meta.url));

interface EmbeddedRedis {
  url: string;
  /** Streams mode: the embedded cluster's seeds (REDISPATCH_CLUSTER_NODES). */
  seeds?: string;
  stop(): Promise<void>;
}

/** Streams mode: a 3-master Redis Cluster from redis-server on PATH (redis-cli joins it). */
async function startEmbeddedCluster(): Promise<EmbeddedRedis> {
  const testing = await import('@redispatch/shared/testing');
  if (!testing.hasRedisServerBinary())
    throw new Error(
      'REDISPATCH_CLUSTER_NODES is unset and no embedded cluster could start: it needs redis-server and redis-cli on PATH (apt-get install redis-server redis-tools); or point REDISPATCH_CLUSTER_NODES at a cluster',
    );
  const cluster = await testing.startRedisCluster({ masters: 3 });
  const first = cluster.nodes[0];
  return { url: `redis://${first?.host}:${first?.port}`, seeds: cluster.seeds, stop: () => cluster.stop() };
}

/** Starts redis-server from PATH, or through testcontainers when only Docker is there. */
async function startEmbeddedRedis(): Promise<EmbeddedRedis> {
  const testing = await import('@redispatch/shared/testing');
  if (testing.hasRedisServerBinary()) return testing.startRedisProcess();
  try {
    return await testing.startRedis();
  } catch (error) {
    throw new Error(
      `REDISPATCH_REDIS_URL is unset and no embedded Redis could start: no redis-server on PATH (apt-get install redis-server) and no usable Docker engine (${(error as Error).message.split('\n')[0]}); install one, or point REDISPATCH_REDIS_URL at a Redis`,
    );
  }
}

function count(raw: string, name: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} expects a whole number >= ${min} (got "${raw}")`);
  return value;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'Run the whole system locally: Redis (embedded unless REDISPATCH_REDIS_URL is set), 3 dispatchers, workers, a demo publisher, live stats',
    )
    .option('--dispatchers <n>', 'dispatcher processes', '3')
    .option('--workers <n>', 'worker processes', '3')
    .option('--publish-rate <r>', 'demo publisher messages per second (0 = no publisher)', '200')
    .option(
      '--handler <module>',
      'worker handler module; "demo" (default: simulated work, 1% transient failures), "noop", or "echo" (replies with the body)',
      'demo',
    )
    .option(
      '--relays <n>',
      'relay processes (WebSocket on REDISPATCH_RELAY_PORT and the ports after it)',
      '0',
    )
    .action(
      async (
        options: {
          dispatchers: string;
          workers: string;
          publishRate: string;
          handler: string;
          relays: string;
        },
        command: Command,
      ) => {
        const children: ChildProcess[] = [];
        let redis: EmbeddedRedis | undefined;
        let stopping = false;
        const stopAll = async () => {
          if (stopping) return;
          stopping = true;
          process.stdout.write('\nstopping…\n');
          await Promise.all(
            children.map(
              (child) =>
                new Promise<void>((resolve) => {
                  if (child.exitCode !== null || child.signalCode !== null) return resolve();
                  child.once('exit', () => resolve());
                  child.kill('SIGTERM');
                  setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
                }),
            ),
          );
          await redis?.stop();
          process.exit(0);
        };
        try {
          const dispatchers = count(options.dispatchers, '--dispatchers', 1);
          const workers = count(options.workers, '--workers', 1);
          const publishRate = count(options.publishRate, '--publish-rate', 0);
          const relays = count(options.relays, '--relays', 0);
          const globals = command.optsWithGlobals() as Record<string, string | undefined>;
          // `--handler` is also a global setting; whichever parser took it, honour what the user typed.
          const handlerChoice = options.handler !== 'demo' ? options.handler : (globals.handler ?? 'demo');
          const config = configFrom(command);
          const streams = config.mode === 'streams';
          const redisUrl = globals.redisUrl ?? process.env.REDISPATCH_REDIS_URL;
          if (streams && !config.clusterNodes?.length) {
            redis = await startEmbeddedCluster();
            process.stdout.write(`started an embedded 3-master Redis Cluster at ${redis.seeds}\n`);
          } else if (!streams && !redisUrl) {
            redis = await startEmbeddedRedis();
            process.stdout.write(`started an embedded Redis at ${redis.url}\n`);
          }
          const env = {
            ...process.env,
            ...(redis ? { REDISPATCH_REDIS_URL: redis.url } : {}),
            ...(redis?.seeds ? { REDISPATCH_CLUSTER_NODES: redis.seeds, REDISPATCH_MODE: 'streams' } : {}),
          };
          const effective = redis?.seeds
            ? { ...config, redisUrl: redis.url, clusterNodes: redis.seeds.split(','), lockUrls: [] }
            : redis
              ? { ...config, redisUrl: redis.url, lockUrls: [redis.url] }
              : config;
          const logDir = mkdtempSync(join(tmpdir(), 'redispatch-up-'));
          const basePort = config.metricsPort;
          let nextPort = basePort;
          const spawnRole = (name: string, args: string[], extraEnv: Record<string, string> = {}) => {
            const port = basePort > 0 ? nextPort++ : basePort;
            const log = createWriteStream(join(logDir, `${name}.log`));
            const child = spawn(process.execPath, [CLI_MAIN, ...args], {
              env: {
                ...env,
                REDISPATCH_METRICS_PORT: String(port),
                REDISPATCH_INSTANCE_ID: `${name}-${process.pid}`,
                ...extraEnv,
              },
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            child.stdout?.pipe(log);
            child.stderr?.pipe(log);
            child.once('exit', (code, signal) => {
              if (!stopping)
                process.stderr.write(
                  `${name} exited (code ${code}, signal ${signal}); see ${join(logDir, `${name}.log`)}\n`,
                );
            });
            children.push(child);
          };
          const passthrough = process.argv.slice(2).filter((arg) => arg !== 'up');
          for (let i = 1; i <= dispatchers; i++) spawnRole(`dispatcher-${i}`, ['dispatcher']);
          for (let i = 1; i <= workers; i++)
            spawnRole(`worker-${i}`, [
              'worker',
              '--handler',
              handlerChoice === 'demo'
                ? DEMO_HANDLER
                : handlerChoice === 'noop'
                  ? NOOP_HANDLER
                  : handlerChoice === 'echo'
                    ? ECHO_HANDLER
                    : handlerChoice,
            ]);
          for (let i = 1; i <= relays; i++) {
            const relayPort = config.relayPort > 0 ? config.relayPort + i - 1 : config.relayPort;
            // A stable id (no pid), so restarting `up` resumes the relay's queue and sessions.
            spawnRole(`relay-${i}`, ['relay'], {
              REDISPATCH_INSTANCE_ID: `relay-${i}`,
              REDISPATCH_RELAY_PORT: String(relayPort),
            });
            process.stdout.write(
              `relay-${i}: ws://${config.relayHost === '0.0.0.0' ? '127.0.0.1' : config.relayHost}:${relayPort}/\n`,
            );
          }
          if (publishRate > 0)
            spawnRole('publisher', ['publish', '--count', '1000000000', '--rate', String(publishRate)]);
          process.stdout.write(
            `logs in ${logDir}; metrics on ports ${basePort > 0 ? `${basePort}-${nextPort - 1}` : '(random)'}; Ctrl-C stops everything\n`,
          );
          if (passthrough.length > 0 && process.env.REDISPATCH_UP_DEBUG)
            process.stdout.write(`args: ${passthrough.join(' ')}\n`);
          process.on('SIGINT', () => void stopAll());
          process.on('SIGTERM', () => void stopAll());
          await withAdminScope(effective, async (scope) => {
            while (!stopping) {
              const stats = await statsFor(effective, scope);
              if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
              process.stdout.write(`${formatStats(stats)}\n\n(Ctrl-C to stop; logs in ${logDir})\n`);
              await new Promise((resolve) => setTimeout(resolve, 1_000));
            }
          });
        } catch (error) {
          for (const child of children) child.kill('SIGKILL');
          await redis?.stop();
          exitWithError(error);
        }
      },
    );
}
