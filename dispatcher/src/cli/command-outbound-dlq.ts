import {
  createKeys,
  isEmptyFilter,
  type OutboundDeadLetter,
  outboundDeadId,
  purgeOutboundDead,
  queryOutboundDead,
  redisTimeMs,
  selectOutboundDead,
} from '@redispatch/shared';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { hexDump, previewBody, printableText } from './body-text.js';
import { configFrom, exitWithError } from './config-flags.js';
import { confirmOrRefuse } from './confirm.js';
import { addFilterOptions, type FilterFlags, selectionFrom } from './dead-letter-flags.js';
import { addListCommand } from './dead-letter-listing.js';
import { terminalSafe } from './terminal-text.js';

const PREVIEW_BYTES = 80;

function letterJson({ dead }: OutboundDeadLetter): string {
  const e = dead.entry;
  return JSON.stringify({
    deadAt: dead.deadAt,
    reason: dead.reason,
    messageId: e?.messageId,
    replyTo: e?.replyTo,
    enqueuedAt: e?.enqueuedAt,
    text: e?.text,
    payload: (e?.payload ?? dead.raw).toString('base64'),
  });
}

function letterLine({ dead }: OutboundDeadLetter): string {
  const e = dead.entry;
  const preview = previewBody(e?.payload ?? dead.raw, PREVIEW_BYTES);
  return `${new Date(dead.deadAt).toISOString()}  reason=${JSON.stringify(dead.reason)}  id=${e?.messageId ?? '?'}  to=${e?.replyTo ?? '?'}  payload=${preview}`;
}

function letterDetail({ dead }: OutboundDeadLetter): string[] {
  const e = dead.entry;
  const payload = e?.payload ?? dead.raw;
  const text = printableText(payload);
  return [
    `id:         ${e?.messageId ?? '? (undecodable entry)'}`,
    `reason:     ${dead.reason}`,
    `dead at:    ${new Date(dead.deadAt).toISOString()}`,
    `reply to:   ${e?.replyTo ?? '?'}`,
    `enqueued:   ${e ? new Date(e.enqueuedAt).toISOString() : '?'}`,
    `payload:    ${payload.length} bytes, ${text === undefined ? 'binary (hex dump below)' : 'UTF-8 text (below)'}`,
    '--- payload ---',
    ...(text === undefined ? hexDump(payload) : [text]),
  ];
}

function reportMissing(missing: string[]): void {
  if (missing.length === 0) return;
  process.stderr.write(
    `redispatch: no undeliverable reply for message id(s): ${terminalSafe(missing.join(', '))}\n`,
  );
  process.exitCode = 1;
}

/** `redispatch outbound-dlq list | show | purge`: replies that could not be delivered ({prefix}:out-dlq). */
export function registerOutboundDlqCommand(program: Command): void {
  const command = program
    .command('outbound-dlq')
    .description('List, show or purge undeliverable replies (relay and HTTP outbound dead letters)');
  addListCommand(command, {
    noun: 'undeliverable reply(ies)',
    description: 'List undeliverable replies, newest first, with the total (filters narrow both)',
    jsonNote: 'payload base64',
    query: (config, { client }, filter, offset, limit) =>
      queryOutboundDead(client, createKeys(config.prefix).outboundDead, filter, offset, limit),
    line: letterLine,
    json: letterJson,
  });
  command
    .command('show')
    .description('Show the undeliverable replies to one message in full (payload as text or hex dump)')
    .argument('<id>', 'message id (as `outbound-dlq list` prints it after id=)')
    .option('--json', 'print JSON (payload base64)')
    .action(async (id: string, options: { json?: boolean }, sub: Command) => {
      try {
        const config = configFrom(sub);
        const key = createKeys(config.prefix).outboundDead;
        const { letters } = await withAdminScope(config, ({ client: redis }) =>
          selectOutboundDead(redis, key, { kind: 'ids', ids: [id] }),
        );
        if (letters.length === 0) throw new Error(`no undeliverable reply for message id ${id}`);
        const blocks = letters.map((l) =>
          options.json ? letterJson(l) : terminalSafe(letterDetail(l).join('\n')),
        );
        process.stdout.write(`${blocks.join(options.json ? '\n' : '\n\n')}\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  addFilterOptions(
    command
      .command('purge')
      .description(
        'Delete undeliverable replies (message ids, filters, or all); asks first on a terminal, else needs --yes',
      )
      .argument('[ids...]', 'message ids whose undeliverable replies to delete')
      .option('--all', 'delete every undeliverable reply (the default when no ids or filters are given)')
      .option('--dry-run', 'print what would be deleted; change nothing')
      .option('--yes', 'do not ask (required when stdin is not a terminal)'),
  ).action(
    async (
      ids: string[],
      options: FilterFlags & { all?: boolean; dryRun?: boolean; yes?: boolean },
      sub: Command,
    ) => {
      try {
        const config = configFrom(sub);
        const key = createKeys(config.prefix).outboundDead;
        await withAdminScope(config, async ({ client: redis }) => {
          const selection = selectionFrom('outbound-dlq purge', ids, options, await redisTimeMs(redis), true);
          if (selection.kind === 'filter' && isEmptyFilter(selection.filter)) {
            // Everything: one DEL, however long the list.
            const count = await redis.llen(key);
            if (options.dryRun)
              return void process.stdout.write(`would purge ${count} undeliverable reply(ies)\n`);
            if (count > 0)
              await confirmOrRefuse(`${count} undeliverable reply(ies)`, options.yes, 'outbound-dlq purge');
            const reply = await redis.multi().llen(key).del(key).exec();
            return void process.stdout.write(
              `purged ${Number(reply?.[0]?.[1] ?? 0)} undeliverable reply(ies)\n`,
            );
          }
          const { letters, missing } = await selectOutboundDead(redis, key, selection);
          if (options.dryRun) {
            for (const letter of letters)
              process.stdout.write(`would purge ${terminalSafe(outboundDeadId(letter) || '?')}\n`);
            process.stdout.write(`would purge ${letters.length} undeliverable reply(ies)\n`);
          } else if (letters.length > 0) {
            await confirmOrRefuse(
              `${letters.length} undeliverable reply(ies)`,
              options.yes,
              'outbound-dlq purge',
            );
            process.stdout.write(
              `purged ${await purgeOutboundDead(redis, key, letters)} undeliverable reply(ies)\n`,
            );
          } else {
            process.stdout.write('purged 0 undeliverable reply(ies)\n');
          }
          reportMissing(missing);
        });
      } catch (error) {
        exitWithError(error);
      }
    },
  );
}
