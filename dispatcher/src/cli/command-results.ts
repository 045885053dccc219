import type { DataClient } from '@redispatch/shared';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { previewBody, printableText } from './body-text.js';
import { configFrom, exitWithError } from './config-flags.js';

/** Most entries one read takes from one results stream. */
const READ_COUNT = 256;
/** How long the follower waits after a pass that found nothing on any stream. */
const IDLE_POLL_MS = 200;
const PREVIEW_BYTES = 80;

/** One results stream followed: which partition (streams mode), its key, and the last entry printed. */
interface Followed {
  partition: number | undefined;
  key: string;
  lastId: string;
}

type XReadReply = [Buffer, [Buffer, Buffer[]][]][] | null;

interface ResultEntry {
  partition: number | undefined;
  entryId: string;
  id: string;
  result: Buffer;
}

function entryJson(e: ResultEntry): string {
  return JSON.stringify({
    id: e.id,
    result: e.result.toString('base64'),
    text: printableText(e.result),
    entryId: e.entryId,
    at: Number(e.entryId.split('-')[0]),
    ...(e.partition === undefined ? {} : { partition: e.partition }),
  });
}

function entryLine(e: ResultEntry): string {
  const at = new Date(Number(e.entryId.split('-')[0])).toISOString();
  const where = e.partition === undefined ? '' : `  partition=${e.partition}`;
  return `${at}  id=${e.id}${where}  result=${previewBody(e.result, PREVIEW_BYTES)}`;
}

/** The id of a stream's newest entry, so following starts after what is already there. */
async function newestId(client: DataClient, key: string): Promise<string> {
  const newest = (await client.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][];
  return newest[0]?.[0] ?? '0-0';
}

/** The entries after `followed.lastId` (up to READ_COUNT), advancing it. XREAD without BLOCK: one slot per call. */
async function readNew(client: DataClient, followed: Followed): Promise<ResultEntry[]> {
  const reply = (await client.callBuffer(
    'XREAD',
    'COUNT',
    READ_COUNT,
    'STREAMS',
    followed.key,
    followed.lastId,
  )) as XReadReply;
  const entries: ResultEntry[] = [];
  for (const [entryId, fields] of reply?.[0]?.[1] ?? []) {
    let id = '';
    let result: Buffer = Buffer.alloc(0);
    for (let f = 0; f + 1 < fields.length; f += 2) {
      const name = (fields[f] as Buffer).toString();
      if (name === 'id') id = (fields[f + 1] as Buffer).toString();
      else if (name === 'result') result = fields[f + 1] as Buffer;
    }
    followed.lastId = entryId.toString();
    entries.push({ partition: followed.partition, entryId: followed.lastId, id, result });
  }
  return entries;
}

/** `redispatch results tail`: follows the results stream(s) (REDISPATCH_RESULTS=stream). */
export function registerResultsCommand(program: Command): void {
  const command = program
    .command('results')
    .description("Read the results stream: acked handlers' return values (REDISPATCH_RESULTS=stream)");
  command
    .command('tail')
    .description(
      'Follow the results stream of the deployment (lists mode) or of every partition (streams mode) until Ctrl-C',
    )
    .option(
      '--json',
      'print one JSON object per line (id, result base64, text when UTF-8, entryId, at, partition)',
    )
    .option('--from-start', 'print the entries already in the stream(s) first, not only new ones')
    .option('--count <n>', 'exit after printing n entries')
    .action(async (options: { json?: boolean; fromStart?: boolean; count?: string }, sub: Command) => {
      try {
        const config = configFrom(sub);
        const limit = options.count === undefined ? Number.POSITIVE_INFINITY : Number(options.count);
        if (!(Number.isSafeInteger(limit) || limit === Number.POSITIVE_INFINITY) || limit < 1)
          throw new Error(`--count expects a whole number >= 1 (got "${options.count}")`);
        await withAdminScope(config, async ({ client, keys, partitions }) => {
          const streams: Followed[] =
            partitions.length > 0
              ? partitions.map((p) => ({ partition: p.index, key: p.results, lastId: '0-0' }))
              : [{ partition: undefined, key: keys.results, lastId: '0-0' }];
          if (!options.fromStart) for (const s of streams) s.lastId = await newestId(client, s.key);
          // On stderr, so stdout stays one entry per line (--json).
          process.stderr.write(
            `redispatch: following ${streams.length} results stream${streams.length === 1 ? '' : 's'} of ${config.prefix}${options.count ? '' : ' (Ctrl-C to stop)'}\n`,
          );
          let printed = 0;
          while (printed < limit) {
            const batches = await Promise.all(streams.map((s) => readNew(client, s)));
            const entries = batches.flat();
            for (const e of entries.slice(0, limit - printed))
              process.stdout.write(`${options.json ? entryJson(e) : entryLine(e)}\n`);
            printed += entries.length;
            if (entries.length === 0) await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
          }
        });
      } catch (error) {
        exitWithError(error);
      }
    });
}
