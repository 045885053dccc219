import { type FlowRequestOutcome, requestFlow } from '@redispatch/shared';
import type { Command } from 'commander';
import { withAdminScope } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';

/** How long `pause`/`resume` wait for the leader to apply the request by default. */
const DEFAULT_WAIT_MS = 5_000;

function describe(verb: 'pause' | 'resume', outcome: FlowRequestOutcome): string {
  const { applied, status, seq } = outcome;
  if (!applied)
    return `${verb} requested (request ${seq}); no leader applied it within the wait: the next leader applies it before its first write`;
  const state = status.state === 'paused' ? 'paused' : 'running';
  return `${state}: applied by the leader of epoch ${status.appliedEpoch} (request ${status.appliedSeq})`;
}

function registerOne(program: Command, verb: 'pause' | 'resume', description: string): void {
  program
    .command(verb)
    .description(description)
    .option('--wait <ms>', 'how long to wait for the leader to apply it', String(DEFAULT_WAIT_MS))
    .option('--json', 'print JSON (fields: seq, applied, state, requested, appliedEpoch)')
    .action(async (options: { wait: string; json?: boolean }, command: Command) => {
      try {
        const waitMs = Number(options.wait);
        if (!Number.isInteger(waitMs) || waitMs < 0)
          throw new Error(`--wait expects milliseconds >= 0 (got "${options.wait}")`);
        const config = configFrom(command);
        const outcome = await withAdminScope(config, ({ client, keys }) =>
          requestFlow(client, keys, verb === 'pause' ? 'paused' : 'running', waitMs),
        );
        const { status } = outcome;
        process.stdout.write(
          options.json
            ? `${JSON.stringify({
                seq: outcome.seq,
                applied: outcome.applied,
                state: status.state,
                requested: status.requested,
                appliedEpoch: status.appliedEpoch,
              })}\n`
            : `${describe(verb, outcome)}\n`,
        );
      } catch (error) {
        exitWithError(error);
      }
    });
}

/** `redispatch pause` / `redispatch resume` (docs/flow-control.md). */
export function registerFlowCommands(program: Command): void {
  registerOne(
    program,
    'pause',
    'Stop routing: accepted messages wait in the backlog, delayed ones stay delayed (survives failover)',
  );
  registerOne(program, 'resume', 'Resume routing: what waited is handed to workers');
}
