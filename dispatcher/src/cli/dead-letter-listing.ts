import { type Config, type DeadLetterFilter, redisTimeMs } from '@redispatch/shared';
import type { Command } from 'commander';
import { type AdminScope, withAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';
import {
  addFilterOptions,
  type FilterFlags,
  filterFrom,
  hasFilter,
  type PageFlags,
  pageFrom,
} from './dead-letter-flags.js';
import { terminalSafe } from './terminal-text.js';

export interface ListingSpec<L> {
  /** What one entry is called in the summary line, e.g. `dead letter(s)`. */
  noun: string;
  description: string;
  /** What `--json` prints per entry, e.g. `body base64`. */
  jsonNote: string;
  query(
    config: Config,
    scope: AdminScope,
    filter: DeadLetterFilter,
    offset: number,
    limit: number,
  ): Promise<{ letters: L[]; total: number }>;
  line(letter: L): string;
  json(letter: L): string;
}

/**
 * `<parent> list`: one page of a dead-letter list, newest first, then a summary with the total and
 * the next offset. Shared by `dlq` and `outbound-dlq` so both read and page the same way.
 */
export function addListCommand<L>(parent: Command, spec: ListingSpec<L>): void {
  addFilterOptions(
    parent
      .command('list')
      .description(spec.description)
      .option('--limit <n>', 'most to show', '20')
      .option('--offset <n>', 'skip this many (newest first) before showing', '0')
      .option('--json', `print JSON lines (${spec.jsonNote}), one per entry and nothing else`),
  ).action(async (options: PageFlags & FilterFlags & { json?: boolean }, command: Command) => {
    try {
      const { offset, limit } = pageFrom(options);
      const config = configFrom(command);
      const page = await withAdminScope(config, async (scope) =>
        spec.query(config, scope, filterFrom(options, await redisTimeMs(scope.client)), offset, limit),
      );
      for (const letter of page.letters)
        process.stdout.write(`${options.json ? spec.json(letter) : terminalSafe(spec.line(letter))}\n`);
      const shown = page.letters.length;
      const next = offset + shown < page.total ? `; next: --offset ${offset + shown}` : '';
      // --json prints entries only: scripts parse every line as one (2>&1 included).
      if (!options.json)
        process.stdout.write(
          `${shown} ${spec.noun} shown, ${page.total} ${hasFilter(options) ? 'matching' : 'in total'} (newest first, offset ${offset}${next})\n`,
        );
    } catch (error) {
      exitWithError(error);
    }
  });
}
