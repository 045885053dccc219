/** What one bench run shares: its stamp, its log and profile folders, its clock and log line, process options. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartOptions } from '../lib/systems/system.js';
import { options } from './options.js';

export const stamp = new Date()
  .toISOString()
  .replace(/[:.]/g, '-')
  .replace(/-\d{3}Z$/, 'Z');
export const logDir = mkdtempSync(join(tmpdir(), 'redispatch-bench-'));
export const profDir = join(logDir, 'cpuprof');
if (options.cpuProf) mkdirSync(profDir, { recursive: true });
export const startedAt = Date.now();
export const log = (text: string) => {
  const t = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${text}\n`);
};

export function startOptions(tag: string, workers: number, extra: Partial<StartOptions> = {}): StartOptions {
  return {
    logDir,
    tag,
    workers,
    concurrency: options.concurrency,
    dispatchers: 3,
    nodeArgs: options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : undefined,
    ...extra,
  };
}
