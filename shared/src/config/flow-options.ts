import { intAtLeast, option } from './option-schemas.js';

/** Flow control the leader applies (docs/flow-control.md): the cluster-wide rate limit. */
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
};
