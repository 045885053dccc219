import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, type Stats, settingSource } from '@redispatch/shared';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { formatStats, statsFor } from './command-stats.js';
import { configFrom, exitWithError } from './config-flags.js';
import { type ChildRole, lastLogLine, type SupervisedChild, Supervisor } from './up-children.js';
import { type EmbeddedRedis, startEmbeddedRedis } from './up-embedded-redis.js';
import { childEnvironment } from './up-env.js';

const BUILTIN_HANDLERS: Record<string, string> = {
  demo: fileURLToPath(new URL('./demo-handler.js', import.meta.url)),
  noop: fileURLToPath(new URL('./noop-handler.js', import.meta.url)),
  echo: fileURLToPath(new URL('./echo-handler.js', import.meta.url)),
};
/** How long a child's drain may take before `up` has it killed: its drain timeout and a margin. */
const DRAIN_MARGIN_MS = 5_000;
const REDRAW_MS = 1_000;

function count(raw: string, name: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} expects a whole number >= ${min} (got "${raw}")`);
  return value;
}

/**
 * What `up` does with the terminal: writes until its output is gone (a closed pipe), then stays
 * silent. `up | head -3` must stop everything cleanly, not die of EPIPE and leave the children.
 */
class Screen {
  private closed = false;

  constructor(onClosed: () => void) {
    process.stdout.on('error', () => {
      if (this.closed) return;
      this.closed = true;
      onClosed();
    });
  }

  write(text: string): void {
    if (!this.closed) process.stdout.write(text);
  }
}

/** The stats document, minus a leader record that names one of our dispatchers that has exited. */
function honestStats(stats: Stats, children: readonly SupervisedChild[]): Stats {
  const leader = stats.leader;
  const ours = children.find((child) => child.instanceId === leader?.id);
  return ours?.state.kind === 'exited' ? { ...stats, leader: null } : stats;
}

function childRows(children: readonly SupervisedChild[], stats: Stats | undefined): string[] {
  return children.map((child) => {
    const metrics = stats?.processes.find((p) => p.id === child.instanceId)?.metrics;
    const state = child.state;
    const status =
      state.kind === 'exited'
        ? `exited (${state.signal ? `signal ${state.signal}` : `code ${state.code}`}): ${lastLogLine(child.logFile)}`
        : state.kind;
    return `${child.name.padEnd(14)} pid ${String(child.pid).padEnd(8)} ${metrics ? `metrics ${metrics}  ` : ''}${status}`;
  });
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description(
      'Run the whole system locally: Redis (embedded unless REDISPATCH_REDIS_URL is set), 3 dispatchers, workers, a demo publisher, live stats; every setting given to up reaches every process; Ctrl-C drains them all',
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
        const logDir = mkdtempSync(join(tmpdir(), 'redispatch-up-'));
        const supervisor = new Supervisor(logDir);
        let redis: EmbeddedRedis | undefined;
        let phase: 'starting' | 'running' | 'stopping' = 'starting';
        /** Drains every child once; a second signal while draining kills them instead. */
        const stop = async (reason: string, exitCode: number, second: 'force' | 'ignore') => {
          if (phase === 'stopping') {
            if (second === 'ignore') return;
            supervisor.killAll();
            await redis?.stop();
            process.exit(130);
          }
          phase = 'stopping';
          screen.write(`\n${reason}: stopping every process gracefully… (Ctrl-C again to force)\n`);
          await supervisor.stopAll();
          await redis?.stop();
          process.exit(exitCode);
        };
        // A closed terminal (SIGHUP) or pipe makes writes fail; that must not crash `up` mid-stop.
        process.stderr.on('error', () => {});
        const screen = new Screen(() => void stop('output closed', 0, 'ignore'));
        for (const signal of ['SIGINT', 'SIGTERM'] as const)
          process.on(signal, () => void stop(signal, 0, 'force'));
        // A closed terminal sends SIGHUP and fails writes in either order: neither may force the stop.
        process.on('SIGHUP', () => void stop('SIGHUP', 0, 'ignore'));
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
          const redisGiven = settingSource(config, 'redisUrl') !== 'default';
          if ((streams && !config.clusterNodes?.length) || (!streams && !redisGiven)) {
            redis = await startEmbeddedRedis(streams);
            screen.write(
              streams
                ? `started an embedded 3-master Redis Cluster at ${redis.seeds}\n`
                : `started an embedded Redis at ${redis.url}\n`,
            );
          }
          const effective: Config = redis?.seeds
            ? { ...config, redisUrl: redis.url, clusterNodes: redis.seeds.split(','), lockUrls: [] }
            : redis
              ? { ...config, redisUrl: redis.url, lockUrls: [redis.url] }
              : config;
          const env = childEnvironment(command, redis);
          // A port the user chose is spread over the children (taken: that child fails, naming it);
          // the default lets each child fall back to a free port, shown in the display.
          const chosenPort = settingSource(config, 'metricsPort') !== 'default';
          let nextPort = config.metricsPort;
          const start = (
            name: string,
            role: ChildRole,
            args: string[],
            extra: NodeJS.ProcessEnv = {},
            instanceId = `${name}-${process.pid}`,
          ) => {
            const port = chosenPort && config.metricsPort > 0 ? nextPort++ : config.metricsPort;
            const portEnv = chosenPort ? { REDISPATCH_METRICS_PORT: String(port) } : {};
            supervisor.start(name, role, args, { ...env, ...portEnv, ...extra }, instanceId);
          };
          for (let i = 1; i <= dispatchers; i++) start(`dispatcher-${i}`, 'dispatcher', ['dispatcher']);
          const handler = BUILTIN_HANDLERS[handlerChoice] ?? handlerChoice;
          for (let i = 1; i <= workers; i++) start(`worker-${i}`, 'worker', ['worker', '--handler', handler]);
          for (let i = 1; i <= relays; i++) {
            const relayPort = config.relayPort > 0 ? config.relayPort + i - 1 : config.relayPort;
            // A stable id (no pid), so restarting `up` resumes the relay's queue and sessions.
            start(
              `relay-${i}`,
              'relay',
              ['relay'],
              { REDISPATCH_RELAY_PORT: String(relayPort) },
              `relay-${i}`,
            );
            screen.write(
              `relay-${i}: ws://${config.relayHost === '0.0.0.0' ? '127.0.0.1' : config.relayHost}:${relayPort}/\n`,
            );
          }
          if (publishRate > 0)
            start('publisher', 'publisher', [
              'publish',
              '--count',
              '1000000000',
              '--rate',
              String(publishRate),
            ]);
          screen.write(`logs in ${logDir}; Ctrl-C stops everything\n`);
          redis?.watch(
            supervisor.children.map((child) => child.pid),
            config.drainTimeoutMs + DRAIN_MARGIN_MS,
          );
          supervisor.onExit((child) => {
            if (phase === 'stopping') return;
            const gone = (['dispatcher', 'worker'] as const).find((role) => supervisor.roleGone(role));
            if (gone) {
              process.stderr.write(
                `redispatch: every ${gone} exited (last: ${child.name}); see ${child.logFile}\n`,
              );
              void stop(`every ${gone} exited`, 1, 'ignore');
            }
          });
          phase = 'running';
          await withAdminScope(effective, async (scope) => {
            while (phase === 'running') {
              let stats: Stats | undefined;
              let problem = '';
              try {
                stats = honestStats(await statsFor(effective, scope), supervisor.children);
              } catch (error) {
                problem = `stats unavailable: ${(error as Error).message}`;
              }
              if (phase !== 'running') break;
              if (process.stdout.isTTY) screen.write('\x1b[2J\x1b[H');
              screen.write(
                `${stats ? formatStats(stats) : problem}\n\n${childRows(supervisor.children, stats).join('\n')}\n\n(Ctrl-C stops everything gracefully; logs in ${logDir})\n`,
              );
              await new Promise((resolve) => setTimeout(resolve, REDRAW_MS));
            }
          });
          // The display ended because `up` is stopping; the process exits when the children have.
          await new Promise(() => {});
        } catch (error) {
          supervisor.killAll();
          await redis?.stop();
          exitWithError(error);
        }
      },
    );
}
