import { afterEach, describe, expect, it } from 'vitest';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { type Client, connect, startStack, stopStacks } from '../helpers/relay-stack.js';

// The relay and replies in streams mode, on a real 3-master Redis Cluster: the reply is written to
// the relay's outbound queue (deployment slot) before the ack goes to the message's partition.
const fx = useProcessFixture({ cluster: { masters: 3 } });
afterEach(() => stopStacks());

describe('relay round trip in streams mode', () => {
  it('answers over the same socket, text and binary, and 50 sockets each get only their own replies', async () => {
    const stack = await startStack(fx, 'relay-streams', {}, { streams: true });
    const first = await connect(stack.relayPort);
    first.ws.send('hello');
    await expect.poll(() => first.received.length, { timeout: 15_000 }).toBe(1);
    expect(first.received[0]?.data.toString()).toBe('re:hello');
    const binary = Buffer.from([0xfe, 0x00, ...Array.from({ length: 256 }, (_, i) => i)]);
    first.ws.send(binary, { binary: true });
    await expect.poll(() => first.received.length, { timeout: 10_000 }).toBe(2);
    expect(first.received[1]?.data.equals(Buffer.concat([Buffer.from('re:'), binary]))).toBe(true);

    const clients: Client[] = [];
    for (let i = 0; i < 50; i++) clients.push(await connect(stack.relayPort));
    clients.forEach((client, i) => {
      for (let k = 0; k < 3; k++) client.ws.send(`c${i}-m${k}`);
    });
    await expect
      .poll(() => clients.reduce((n, c) => n + c.received.length, 0), { timeout: 20_000 })
      .toBe(150);
    clients.forEach((client, i) => {
      expect(client.received.map((r) => r.data.toString()).sort()).toEqual([
        `re:c${i}-m0`,
        `re:c${i}-m1`,
        `re:c${i}-m2`,
      ]);
    });
    await Promise.all([first, ...clients].map((c) => c.close()));
  });
});
