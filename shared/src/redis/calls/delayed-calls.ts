import type { ScriptClient } from './script-client.js';

/**
 * delayedHead-1.lua: ms until the earliest entry of a delayed set (lists: `keys.delayed`; streams:
 * one partition's `delayed`) is due on the server's clock, 0 when due, undefined when it is empty.
 */
export async function delayedHead(
  client: ScriptClient,
  keys: { delayed: string },
): Promise<number | undefined> {
  const wait = Number(await client.rdDelayedHead(keys.delayed));
  return wait < 0 ? undefined : wait;
}
