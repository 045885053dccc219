import { z } from 'zod';
import { bool, intAtLeast, name, option } from './option-schemas.js';

/**
 * The worker's handler and how it runs (in-process or isolated child processes), and the process id.
 */
export const HANDLER_OPTIONS = {
  handler: option(
    'HANDLER',
    '--handler <module>',
    'Worker handler module: its default export is async (msg) => unknown',
    z.string().min(1),
  ),
  isolate: option(
    'ISOLATE',
    '--isolate [bool]',
    'Run the handler in a pool of child processes: a handler that exits, crashes or runs out of memory loses only its child',
    bool,
    'false',
  ),
  isolatePool: option(
    'ISOLATE_POOL',
    '--isolate-pool <n>',
    'Handler processes with --isolate; each runs concurrency/n messages at once (0: one per handler slot)',
    intAtLeast(0, 10_000),
    '0',
  ),
  isolateMaxMemoryMb: option(
    'ISOLATE_MAX_MEMORY_MB',
    '--isolate-max-memory-mb <mb>',
    'V8 heap limit of each handler process (resident memory: this + 128 MB); past it the process is replaced',
    intAtLeast(16, 1_048_576),
    '512',
  ),
  instanceId: option(
    'INSTANCE_ID',
    '--instance-id <id>',
    'Stable id of this process (default: host-pid-random)',
    name,
  ),
};
