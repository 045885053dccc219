import { intAtLeast, option } from './option-schemas.js';

/**
 * Hard bounds on what a process may hold or keep while something downstream fails (issue 22): the
 * leader's unwritten batch, the dead-letter lists and streams.
 */
export const BOUNDS_OPTIONS = {
  leaderPendingBytes: option(
    'LEADER_PENDING_BYTES',
    '--leader-pending-bytes <n>',
    'Bytes the leader holds unwritten while its batch writes fail; past it the leader steps down (its standbys heard the same messages) rather than grow its heap',
    intAtLeast(1024),
    String(64 * 1024 * 1024),
  ),
  leaderPendingMax: option(
    'LEADER_PENDING_MAX',
    '--leader-pending-max <n>',
    'Messages the leader holds unwritten while its batch writes fail; past it the leader steps down',
    intAtLeast(1),
    '100000',
  ),
  dlqMax: option(
    'DLQ_MAX',
    '--dlq-max <n>',
    "Dead letters kept per dead-letter list or stream ({prefix}:dlq, each partition's, {prefix}:out-dlq); the leader removes the oldest past it (redispatch_dlq_trimmed_total)",
    intAtLeast(1),
    '100000',
  ),
};
