import {
  type Config,
  type DeadLetter,
  type DeadLetterStore,
  isCluster,
  listDeadLetters,
  listStreamDeadLetters,
  listsDeadLetterStore,
  purgeDeadLetters,
  purgeStreamDeadLetters,
  redisTimeMs,
  replayDeadLetters,
  replayStreamDeadLetters,
  streamsDeadLetterStore,
} from '@redispatch/shared';
import type { Command } from 'commander';
import { type AdminScope, withAdminScope } from './admin-connection.js';
import { hexDump, previewBody, printableText } from './body-text.js';
import { configFrom, exitWithError } from './config-flags.js';
import { confirmOrRefuse } from './confirm.js';
import { addFilterOptions, type FilterFlags, selectionFrom } from './dead-letter-flags.js';
import { addListCommand } from './dead-letter-listing.js';
import { terminalSafe } from './terminal-text.js';

/** Dead-letter operations for the configured mode (oldest first; kept for library callers and tests). */
export function deadLetterOps(config: Config, { client, keys, partitions }: AdminScope) {
  if (config.mode === 'streams') {
    return {
      list: (limit: number): Promise<DeadLetter[]> => listStreamDeadLetters(client, partitions, limit),
      replay: (ids: string[] | 'all') => replayStreamDeadLetters(client, partitions, ids),
      purge: () => purgeStreamDeadLetters(client, partitions),
    };
  }
  if (isCluster(client)) throw new Error('lists mode reads a single Redis');
  return {
    list: (limit: number) => listDeadLetters(client, keys, limit),
    replay: (ids: string[] | 'all') => replayDeadLetters(client, keys, ids),
    purge: () => purgeDeadLetters(client, keys),
  };
}

/** The dead-letter queue of the configured mode: filtered listings, lookup, replay and purge by selection. */
export function deadLetterStore(config: Config, { client, keys, partitions }: AdminScope): DeadLetterStore {
  if (config.mode === 'streams') return streamsDeadLetterStore(client, partitions);
  if (isCluster(client)) throw new Error('lists mode reads a single Redis');
  return listsDeadLetterStore(client, keys);
}

const PREVIEW_BYTES = 80;

/** The `--json` document of one dead letter: the list's fields (body base64), plus `stack` when kept. */
function letterJson(letter: DeadLetter): string {
  return JSON.stringify({ ...letter, body: letter.body.toString('base64') });
}

function letterLine(letter: DeadLetter): string {
  const when = new Date(letter.deadLetteredAt).toISOString();
  return `${letter.id}  ${when}  attempts=${letter.attempts}  reason=${JSON.stringify(letter.reason)}  body=${previewBody(letter.body, PREVIEW_BYTES)}`;
}

/** `dlq show`: every field, the stack when there was one, the body as text or as a hex dump. */
export function letterDetail(letter: DeadLetter, nowMs: number): string[] {
  const text = printableText(letter.body);
  const lines = [
    `id:         ${letter.id}`,
    `reason:     ${letter.reason}`,
    `attempts:   ${letter.attempts}`,
    `dead at:    ${new Date(letter.deadLetteredAt).toISOString()} (${ago(nowMs - letter.deadLetteredAt)} ago)`,
    `body:       ${letter.body.length} bytes, ${text === undefined ? 'binary (hex dump below)' : 'UTF-8 text (below)'}`,
  ];
  if (letter.stack) lines.push('last error stack:', ...letter.stack.split('\n').map((l) => `  ${l}`));
  lines.push('--- body ---', ...(text === undefined ? hexDump(letter.body) : [text]));
  return lines;
}

/** 42s, 17m, 5h, 3d: the largest unit that keeps the number readable. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.round(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function reportMissing(missing: string[]): void {
  if (missing.length === 0) return;
  process.stderr.write(`redispatch: no dead letter with id(s): ${terminalSafe(missing.join(', '))}\n`);
  process.exitCode = 1;
}

type ActFlags = FilterFlags & { all?: boolean; dryRun?: boolean; yes?: boolean };

export function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('List, show, replay or purge dead letters');
  addListCommand(dlq, {
    noun: 'dead letter(s)',
    description: 'List dead letters, newest first, with the total (filters narrow both)',
    jsonNote: 'body base64',
    query: (config, scope, filter, offset, limit) =>
      deadLetterStore(config, scope).query(filter, offset, limit),
    line: letterLine,
    json: letterJson,
  });
  dlq
    .command('show')
    .description('Show one dead letter in full: reason, attempts, time, stack, body (text or hex dump)')
    .argument('<id>', 'dead letter id (as `dlq list` prints it)')
    .option('--json', 'print JSON (body base64)')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      try {
        const config = configFrom(command);
        const [letters, nowMs] = await withAdminScope(config, async (scope) =>
          Promise.all([deadLetterStore(config, scope).show(id), redisTimeMs(scope.client)]),
        );
        if (letters.length === 0) throw new Error(`no dead letter with id ${id}`);
        const blocks = letters.map((l) =>
          options.json ? letterJson(l) : terminalSafe(letterDetail(l, nowMs).join('\n')),
        );
        process.stdout.write(`${blocks.join(options.json ? '\n' : '\n\n')}\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  addFilterOptions(
    dlq
      .command('replay')
      .description(
        'Send dead letters back to the workers with a fresh attempt count (bodies over REDISPATCH_MAX_PAYLOAD_BYTES are not)',
      )
      .argument('[ids...]', 'ids to replay')
      .option('--all', 'replay every dead letter')
      .option('--dry-run', 'print what would be replayed; change nothing'),
  ).action(async (ids: string[], options: ActFlags, command: Command) => {
    try {
      const config = configFrom(command);
      const max = config.maxPayloadBytes;
      await withAdminScope(config, async (scope) => {
        const store = deadLetterStore(config, scope);
        const selection = selectionFrom('dlq replay', ids, options, await redisTimeMs(scope.client));
        const { refs, missing } = await store.select(selection);
        // The limits the leader checks at intake: a body over the payload limit, or one of which only
        // a prefix was kept (an oversize payload), is never sent back.
        const fits = refs.filter((r) => r.size <= max && !r.truncated);
        const oversize = refs.filter((r) => r.size > max || r.truncated);
        const verb = options.dryRun ? 'would not replay' : 'not replayed';
        if (options.dryRun)
          for (const ref of fits) process.stdout.write(`would replay ${terminalSafe(ref.id)}\n`);
        const count = options.dryRun ? fits.length : await store.replay(fits);
        process.stdout.write(`${options.dryRun ? 'would replay' : 'replayed'} ${count} dead letter(s)\n`);
        for (const ref of oversize)
          process.stderr.write(
            `redispatch: ${verb} ${terminalSafe(ref.id)}: ${
              ref.size > max
                ? `${ref.size} bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=${max}`
                : `only a prefix of its ${ref.size} bytes was kept`
            }\n`,
          );
        if (oversize.length > 0) process.exitCode = 1;
        reportMissing(missing);
      });
    } catch (error) {
      exitWithError(error);
    }
  });
  addFilterOptions(
    dlq
      .command('purge')
      .description('Delete dead letters (ids, filters, or all); asks first on a terminal, else needs --yes')
      .argument('[ids...]', 'ids to delete')
      .option('--all', 'delete every dead letter (the default when no ids or filters are given)')
      .option('--dry-run', 'print what would be deleted; change nothing')
      .option('--yes', 'do not ask (required when stdin is not a terminal)'),
  ).action(async (ids: string[], options: ActFlags, command: Command) => {
    try {
      const config = configFrom(command);
      await withAdminScope(config, async (scope) => {
        const store = deadLetterStore(config, scope);
        const selection = selectionFrom('dlq purge', ids, options, await redisTimeMs(scope.client), true);
        const { refs, missing } = await store.select(selection);
        if (options.dryRun) {
          for (const ref of refs) process.stdout.write(`would purge ${terminalSafe(ref.id)}\n`);
          process.stdout.write(`would purge ${refs.length} dead letter(s)\n`);
        } else if (refs.length > 0) {
          await confirmOrRefuse(`${refs.length} dead letter(s)`, options.yes, 'dlq purge');
          process.stdout.write(`purged ${await store.purge(refs)} dead letter(s)\n`);
        } else {
          process.stdout.write('purged 0 dead letter(s)\n');
        }
        reportMissing(missing);
      });
    } catch (error) {
      exitWithError(error);
    }
  });
}
