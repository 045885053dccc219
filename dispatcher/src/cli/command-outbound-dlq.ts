import { createKeys, decodeDeadOutboundEntry } from '@redispatch/shared';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';

const PREVIEW_BYTES = 80;

/** `redispatch outbound-dlq list | purge`: replies that could not be delivered ({prefix}:out-dlq). */
export function registerOutboundDlqCommand(program: Command): void {
  const command = program
    .command('outbound-dlq')
    .description('List or purge undeliverable replies (relay and HTTP outbound dead letters)');
  command
    .command('list')
    .description('List undeliverable replies, newest first')
    .option('--limit <n>', 'most to show', '20')
    .option('--json', 'print JSON lines (payload base64)')
    .action(async (options: { limit: string; json?: boolean }, sub: Command) => {
      try {
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new Error(`--limit expects a whole number >= 1 (got "${options.limit}")`);
        const config = configFrom(sub);
        const raw = await withAdminScope(config, ({ client: redis }) =>
          redis.lrangeBuffer(createKeys(config.prefix).outboundDead, 0, limit - 1),
        );
        for (const dead of raw.map((r) => decodeDeadOutboundEntry(r))) {
          const e = dead.entry;
          if (options.json) {
            process.stdout.write(
              `${JSON.stringify({
                deadAt: dead.deadAt,
                reason: dead.reason,
                messageId: e?.messageId,
                replyTo: e?.replyTo,
                enqueuedAt: e?.enqueuedAt,
                text: e?.text,
                payload: (e?.payload ?? dead.raw).toString('base64'),
              })}\n`,
            );
          } else {
            const preview = JSON.stringify(
              (e?.payload ?? dead.raw).subarray(0, PREVIEW_BYTES).toString('utf8'),
            );
            process.stdout.write(
              `${new Date(dead.deadAt).toISOString()}  reason=${JSON.stringify(dead.reason)}  id=${e?.messageId ?? '?'}  to=${e?.replyTo ?? '?'}  payload=${preview}\n`,
            );
          }
        }
        if (!options.json) process.stdout.write(`${raw.length} undeliverable reply(ies) shown\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
  command
    .command('purge')
    .description('Delete every undeliverable reply')
    .action(async (_options, sub: Command) => {
      try {
        const config = configFrom(sub);
        const key = createKeys(config.prefix).outboundDead;
        const count = await withAdminScope(config, async ({ client: redis }) => {
          const reply = await redis.multi().llen(key).del(key).exec();
          return Number(reply?.[0]?.[1] ?? 0);
        });
        process.stdout.write(`purged ${count} undeliverable reply(ies)\n`);
      } catch (error) {
        exitWithError(error);
      }
    });
}
