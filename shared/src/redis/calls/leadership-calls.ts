import type { Keys } from '../keys.js';
import type { ScriptClient } from './script-client.js';

/** elect-2.lua: raises the fencing epoch for a newly elected leader; returns the new epoch. */
export function elect(
  client: ScriptClient,
  keys: Pick<Keys, 'epoch' | 'leader'>,
  args: { id: string; host: string; pid: number; leaseMs: number; floor?: number },
): Promise<number> {
  const { id, host, pid, leaseMs, floor } = args;
  return floor === undefined
    ? client.rdElect(keys.epoch, keys.leader, id, host, pid, leaseMs)
    : client.rdElect(keys.epoch, keys.leader, id, host, pid, leaseMs, floor);
}

/** resign-2.lua: clears the leader record if it still names `epoch` or `id`; true when it did. */
export async function resign(
  client: ScriptClient,
  keys: Pick<Keys, 'epoch' | 'leader'>,
  args: { epoch: number; id?: string },
): Promise<boolean> {
  const reply =
    args.id === undefined
      ? await client.rdResign(keys.epoch, keys.leader, args.epoch)
      : await client.rdResign(keys.epoch, keys.leader, args.epoch, args.id);
  return reply === 1;
}
