import {
  type Config,
  isCluster,
  type ProcessEndpoint,
  type Rates,
  readFlow,
  readStats,
  readStreamStats,
  type Stats,
} from '@redispatch/shared';
import type { Command } from 'commander';
import { type AdminScope, withAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';
import { terminalSafe } from './terminal-text.js';

export function formatStats(stats: Stats): string {
  const lines: string[] = [];
  const leader = stats.leader
    ? `${stats.leader.id} (host ${stats.leader.host}, pid ${stats.leader.pid}, epoch ${stats.leader.epoch}${stats.leader.metrics ? `, metrics ${stats.leader.metrics}` : ''})`
    : 'none';
  lines.push(
    `mode ${stats.mode}   prefix ${stats.prefix}   leader ${leader}${stats.paused ? '   PAUSED (redispatch resume)' : ''}`,
  );
  lines.push(
    `inflight ${stats.inflight}   delayed ${stats.delayed}   backlog ${stats.backlog}   dead letters ${stats.deadLetters}${stats.keysWaiting ? `   (${stats.keysWaiting} keys waiting for a per-key limit)` : ''}`,
  );
  const t = stats.totals;
  lines.push(
    `totals: accepted ${t.accepted}  dispatched ${t.dispatched}  acked ${t.acked}  nacked ${t.nacked}  redelivered ${t.redelivered}  dead-lettered ${t.deadLettered}`,
  );
  if (stats.rates) {
    const r = stats.rates;
    lines.push(
      `rates: accepted ${r.acceptedPerSec.toFixed(1)}/s  acked ${r.ackedPerSec.toFixed(1)}/s  (last ${r.intervalSec.toFixed(1)} s)`,
    );
  } else if (stats.rates === null) {
    lines.push('rates: (from the next refresh)');
  }
  if (stats.partitions) {
    lines.push('');
    const partHeader = [
      'partition',
      'stream',
      'slot',
      'master',
      'length',
      'pending',
      'undelivered',
      'delayed',
      'dead',
    ];
    const partRows = stats.partitions.map((p) => [
      String(p.index),
      p.stream,
      String(p.slot),
      p.node || '(single redis)',
      String(p.length),
      String(p.pending),
      String(p.undelivered),
      String(p.delayed),
      String(p.deadLetters),
    ]);
    lines.push(...table(partHeader, partRows));
  }
  lines.push('');
  const header = ['worker', 'queued', 'inflight', 'heartbeat', 'metrics'];
  const rows = stats.workers.map((w) => [
    w.id,
    String(w.queued),
    String(w.inflight),
    `${(w.heartbeatAgeMs / 1000).toFixed(1)}s ago`,
    w.metrics ?? '-',
  ]);
  lines.push(...table(header, rows));
  if (rows.length === 0) lines.push('(no workers registered)');
  lines.push('');
  lines.push(
    ...table(
      PROCESS_HEADER,
      stats.processes.map((p) => processRow(p, stats.leader?.id)),
    ),
  );
  if (stats.processes.length === 0) lines.push('(no live process in the endpoint directory)');
  return lines.join('\n');
}

const PROCESS_HEADER = ['process', 'role', 'state', 'caught up', 'buffered', 'host', 'pid', 'metrics'];

/** One live process; the state, caught up and buffered columns are a dispatcher's (blank for others). */
function processRow(p: ProcessEndpoint, leaderId: string | undefined): string[] {
  const d = p.dispatcher;
  // A dispatcher of a version that did not record its details: only the leader record says anything.
  const state = d?.state ?? (p.id === leaderId ? 'leader' : '');
  return [
    p.id,
    p.role,
    state,
    d ? (d.caughtUp ? 'yes' : 'no') : '',
    d ? String(d.buffered) : '',
    p.host,
    String(p.pid),
    p.metrics ?? '(off)',
  ];
}

/** Left-aligned first column, right-aligned numbers. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [format(header), ...rows.map(format)];
}

/** Reads the stats document for either mode (every live process, dispatchers with their details). */
export async function statsFor(config: Config, scope: AdminScope): Promise<Stats> {
  const stats = await readModeStats(config, scope);
  // The pause control any leader obeys (docs/flow-control.md).
  stats.paused = (await readFlow(scope.client, scope.keys)).requested === 'paused';
  return stats;
}

function readModeStats(config: Config, scope: AdminScope): Promise<Stats> {
  if (config.mode === 'streams')
    return readStreamStats(scope.client, scope.keys, config.prefix, scope.partitions, config.consumerGroup);
  if (isCluster(scope.client)) throw new Error('lists mode reads a single Redis');
  return readStats(scope.client, scope.keys, config.prefix);
}

interface Sample {
  atMs: number;
  accepted: number;
  acked: number;
}

/** Counters per second between two samples of the totals (null for the first). */
function ratesBetween(previous: Sample | undefined, current: Sample): Rates | null {
  if (!previous) return null;
  const seconds = (current.atMs - previous.atMs) / 1000;
  if (seconds <= 0) return null;
  const per = (now: number, before: number) => Math.max(0, now - before) / seconds;
  return {
    acceptedPerSec: per(current.accepted, previous.accepted),
    ackedPerSec: per(current.acked, previous.acked),
    intervalSec: seconds,
  };
}

export function registerStatsCommand(program: Command): void {
  program
    .command('stats')
    .description('Show the leader, standby dispatchers, workers, queue depths and totals')
    .option(
      '--json',
      'print JSON (fields: mode, leader, workers, inflight, delayed, backlog, deadLetters, totals, processes, dispatchers, paused, keysWaiting; with --watch also rates, sampledAt)',
    )
    .option(
      '--watch <seconds>',
      'refresh every N seconds until Ctrl-C; each refresh is timestamped and shows accepted/s and acked/s',
    )
    .action(async (options: { json?: boolean; watch?: string }, command: Command) => {
      try {
        const config = configFrom(command);
        const interval = options.watch === undefined ? 0 : Number(options.watch);
        if (options.watch !== undefined && !(interval > 0))
          throw new Error(`--watch expects seconds > 0 (got "${options.watch}")`);
        await withAdminScope(config, async (scope) => {
          let previous: Sample | undefined;
          for (;;) {
            const stats = await statsFor(config, scope);
            if (interval > 0) {
              // Rates from this sample and the one before; each refresh is timestamped.
              const sample = {
                atMs: performance.now(),
                accepted: stats.totals.accepted,
                acked: stats.totals.acked,
              };
              stats.rates = ratesBetween(previous, sample);
              stats.sampledAt = new Date().toISOString();
              previous = sample;
            }
            const text = options.json
              ? JSON.stringify(stats, null, interval > 0 ? 0 : 2)
              : terminalSafe(`${stats.sampledAt ? `at ${stats.sampledAt}\n` : ''}${formatStats(stats)}`);
            if (interval > 0 && !options.json && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
            process.stdout.write(`${text}\n`);
            if (interval <= 0) return;
            await new Promise((resolve) => setTimeout(resolve, interval * 1000));
          }
        });
      } catch (error) {
        exitWithError(error);
      }
    });
}
