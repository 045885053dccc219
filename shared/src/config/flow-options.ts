import { decimalAtLeast, intAtLeast, option } from './option-schemas.js';

/**
 * Flow control the leader applies (docs/flow-control.md): the cluster-wide rate limit, and the
 * per-affinity-key limits (concurrency, rate) that hold a busy key's messages back in Redis.
 */
export const FLOW_OPTIONS = {
  rateLimit: option(
    'RATE_LIMIT',
    '--rate-limit <msgs/s>',
    'Messages per second handed to workers, cluster-wide: a token bucket in Redis the leader draws from; what it holds back waits in Redis (0 = no limit)',
    intAtLeast(0, 1_000_000),
    '0',
  ),
  rateBurst: option(
    'RATE_BURST',
    '--rate-burst <n>',
    'Most messages the rate limit lets through at once after a quiet spell (the bucket size; 0 = one second of the limit)',
    intAtLeast(0, 10_000_000),
    '0',
  ),
  keyConcurrency: option(
    'KEY_CONCURRENCY',
    '--key-concurrency <n>',
    'Most messages of one affinity key in flight at once, both modes (1 = one at a time, in order: a FIFO group); other keys are not held up by a busy one (0 = no limit)',
    intAtLeast(0, 1_000_000),
    '0',
  ),
  keyRateLimit: option(
    'KEY_RATE_LIMIT',
    '--key-rate-limit <msgs/s>',
    'Messages per second handed to workers per affinity key, both modes (a decimal: 0.5 = one every 2 s); what it holds back waits in Redis (0 = no limit)',
    decimalAtLeast(0, 1_000_000),
    '0',
  ),
  keyRateBurst: option(
    'KEY_RATE_BURST',
    '--key-rate-burst <n>',
    'Most messages of one key the per-key rate limit lets through at once after a quiet spell (0 = one second of the limit, at least 1)',
    intAtLeast(0, 10_000_000),
    '0',
  ),
};
