/** Keys of the raw ioredis loop (raw.ts), on its own redis-server. */
export const RAW_KEYS = {
  body: 'raw:body',
  pending: 'raw:pending',
  /** Hash with field `acked`, incremented by the workers' ack. */
  stats: 'raw:stats',
  queue: (w: number): string => `raw:q:${w}`,
  processing: (w: number): string => `raw:proc:${w}`,
};
