import { defineConfig } from 'vitest/config';

// One runner for the whole repository. Every test starts the servers it needs through
// @redispatch/testing (shared/testing), so files can run in parallel on isolated ports and prefixes.
export default defineConfig({
  test: {
    include: ['{shared,worker,dispatcher,deploy,scripts}/test/**/*.test.ts'],
    // The fault-injection suite (dispatcher/test/faults) runs in a bounded form here; `npm run
    // test:faults` (REDISPATCH_FAULTS=1) runs it at full size. See docs/reliability.md.
    exclude: ['**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more forks only add scheduling noise to timing-sensitive fault tests.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
