import { type DataClient, type Keys, type Logger, scripts } from '@redispatch/shared';
import type { RelayMetrics } from './relay-metrics.js';

/** Relays one sweep call dead-letters at most. */
const SWEEP_LIMIT = 100;

/**
 * One heartbeat of a live relay: registers it, and sweeps every relay silent past the retention
 * period in one Lua call (its socket replies dead-lettered as relay_gone, its taken HTTP replies
 * handed back to the shared queue), then refreshes the dead-letter gauge. Never throws: a failed
 * beat is logged and the next one tries again.
 */
export async function heartbeatAndSweep(
  redis: DataClient,
  keys: Keys,
  relayId: string,
  retentionMs: number,
  metrics: RelayMetrics,
  log: Logger,
): Promise<void> {
  try {
    await scripts.heartbeat(redis, { registry: keys.relays }, { member: relayId, action: 'beat' });
    const {
      relaysSwept: swept,
      deadLettered: dead,
      returnedToHttp: returned,
    } = await scripts.relaySweep(redis, keys, { retentionMs, limit: SWEEP_LIMIT });
    if (swept > 0) {
      metrics.undeliverable.inc({ reason: 'relay_gone' }, dead);
      log.warn(
        { relays: swept, deadLettered: dead, returned },
        'swept relays gone past the retention period',
      );
    }
    metrics.deadLetters.set(await redis.llen(keys.outboundDead));
  } catch (error) {
    log.warn({ err: error }, 'relay heartbeat failed');
  }
}
