import { defineConfig } from 'vitest/config';

// One runner for the whole repository. Every test starts the servers it needs through
// @redispatch/shared/testing, so files can run in parallel on isolated ports and prefixes.
export default defineConfig({
  test: {
    include: ['{shared,worker,dispatcher,deploy,scripts}/test/**/*.test.ts'],
    // The fault-injection suite runs with `npm run test:faults` (REDISPATCH_FAULTS=1) until it has
    // proven stable in CI; see README "Reliability".
    exclude: process.env.REDISPATCH_FAULTS
      ? ['**/node_modules/**']
      : ['**/node_modules/**', 'dispatcher/test/faults/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more forks only add scheduling noise to timing-sensitive fault tests.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
