/** Starts a system under test by name. */
import { BullMQ } from './bullmq.js';
import { RawLoop } from './raw-loop.js';
import { Redispatch } from './redispatch.js';
import type { StartOptions, System, SystemName } from './system.js';

export function startSystem(name: SystemName, options: StartOptions): Promise<System> {
  if (name === 'redispatch') return Redispatch.start(options);
  if (name === 'raw') return RawLoop.start(options);
  return BullMQ.start(options, true, name);
}
