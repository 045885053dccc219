import { intAtLeast, option } from './option-schemas.js';

/** Timing settings of the leader's own loops, beyond the reap tick (issue 17: delays on time). */
export const TIMING_OPTIONS = {
  dueCheckMs: option(
    'DUE_CHECK_MS',
    '--due-check-ms <ms>',
    "How often the leader reads the delayed set's earliest due time to promote it on time (0: only at reaps)",
    intAtLeast(0),
    '10',
  ),
};
