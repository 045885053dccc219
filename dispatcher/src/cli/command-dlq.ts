import {
  type Config,
  type DeadLetter,
  isCluster,
  listDeadLetters,
  listStreamDeadLetters,
  purgeDeadLetters,
  purgeStreamDeadLetters,
  replayDeadLetters,
  replayStreamDeadLetters,
} from '@redispatch/shared';
import type { Command } from 'commander';
import { type AdminScope, withAdminScope } from './admin-connection.js';

/** Dead-letter operations for the configured mode. */
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

import { configFrom, exitWithError } from './config-flags.js';

const PREVIEW_BYTES = 80;

export function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('List, replay or purge dead letters');
  dlq
    .command('list')
    .description('List dead letters, oldest first')
    .option('--limit <n>', 'most to show', '20')
    .option('--json', 'print JSON lines (body base64)')
    .action(async (options: { limit: string; json?: boolean }, command: Command) => {
      try {
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new Error(`--limit expects a whole number >= 1 (got "${options.limit}")`);
        const config = configFrom(command);
        const letters = await withAdminScope(config, (scope) => deadLetterOps(config, scope).list(limit));
        for (const letter of letters) {
          if (options.json) {
            process.stdout.write(`${JSON.stringify({ ...letter, body: letter.body.toString('base64') })}\n`);
          } else {
            const preview = JSON.stringify(letter.body.subarray(0, PREVIEW_BYTES).toString('utf8'));
            const when = new Date(letter.deadLetteredAt).toISOString();
            process.stdout.write(
              `${letter.id}  ${when}  attempts=${letter.attempts}  reason=${JSON.stringify(letter.reason)}  body=${preview}\n`,
            );
          }
        }
        if (!options.json) process.stdout.write(`${letters.length} dead letter(s) shown\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  dlq
    .command('replay')
    .description('Send dead letters back to the workers with a fresh attempt count')
    .argument('[ids...]', 'ids to replay')
    .option('--all', 'replay every dead letter')
    .action(async (ids: string[], options: { all?: boolean }, command: Command) => {
      try {
        if (!options.all && ids.length === 0) throw new Error('dlq replay needs ids or --all');
        if (options.all && ids.length > 0) throw new Error('dlq replay takes either ids or --all, not both');
        const config = configFrom(command);
        const count = await withAdminScope(config, (scope) =>
          deadLetterOps(config, scope).replay(options.all ? 'all' : ids),
        );
        process.stdout.write(`replayed ${count} dead letter(s)\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  dlq
    .command('purge')
    .description('Delete every dead letter')
    .action(async (_options, command: Command) => {
      try {
        const config = configFrom(command);
        const count = await withAdminScope(config, (scope) => deadLetterOps(config, scope).purge());
        process.stdout.write(`purged ${count} dead letter(s)\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
}
