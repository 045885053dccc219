import type { DataClient } from './data-connection.js';

/** A `TIME` reply (seconds, microseconds) as epoch milliseconds. */
export function timeReplyMs(reply: readonly (string | number)[]): number {
  const [seconds = 0, micros = 0] = reply;
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * The Redis server's clock, ms: every deadline, dead-letter time and heartbeat is stamped on it, so
 * ages and expiries are measured on it too, never on this host's clock.
 */
export async function redisTimeMs(client: DataClient): Promise<number> {
  return timeReplyMs(await client.time());
}
