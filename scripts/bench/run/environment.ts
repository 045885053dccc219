/** The machine, versions and git state a run was measured on (part of the JSON report). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../lib/paths.js';
import type { Report } from '../lib/report/results.js';
import { round } from '../lib/util.js';

export function environment(): Report['environment'] {
  const version = (path: string) => {
    try {
      return (JSON.parse(readFileSync(join(REPO, path), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  const safe = (f: () => string) => {
    try {
      return f().trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    loadavgAtStart: loadavg().map((l) => round(l, 2)),
    redis: safe(() => execFileSync('redis-server', ['--version'], { encoding: 'utf8' })),
    bullmq: version('node_modules/bullmq/package.json'),
    beeQueue: version('node_modules/bee-queue/package.json'),
    ioredis: version('node_modules/ioredis/package.json'),
    gitHead: safe(() =>
      execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }),
    ),
    gitDirty: safe(() =>
      execFileSync(
        'git',
        ['-C', REPO, 'status', '--porcelain', '--', 'shared/src', 'worker/src', 'dispatcher/src'],
        {
          encoding: 'utf8',
        },
      ),
    )
      .split('\n')
      .filter(Boolean).length,
  };
}
