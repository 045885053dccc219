/** Locations, resolved from the compiled file (scripts/bench/dist/lib/paths.js). */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(BENCH_DIST, '../../..');
export const REDISPATCH_BIN = join(REPO, 'dispatcher/bin/redispatch.js');
export const PUBLISH_MODULE = join(REPO, 'dispatcher/dist/cli/command-publish.js');
export const BENCH_HANDLER = join(BENCH_DIST, 'bench-handler.js');
export const RESULTS_DIR = join(REPO, 'bench-results');
