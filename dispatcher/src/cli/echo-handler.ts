import type { Message } from '@redispatch/worker';

/**
 * The handler `redispatch up --handler echo` runs: replies with the body it got, byte-exact (so a
 * WebSocket client of `redispatch relay` gets its own frame back). Without a reply address it just acks.
 */
export default async function echoHandler(message: Message): Promise<Buffer> {
  return message.body;
}
