import { afterEach, describe, expect, it } from 'vitest';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { connect, startStack, stopStacks } from '../helpers/relay-stack.js';

afterEach(stopStacks);
const fx = useProcessFixture({ nats: {} });

describe('redispatch relay with NATS ingress', () => {
  it('publishes inbound frames to the NATS subject and delivers the replies on the same socket', async () => {
    const stack = await startStack(
      fx,
      'relay-nats',
      { REDISPATCH_INGRESS: 'nats', REDISPATCH_NATS_URL: fx.nats.url },
      { redisIngress: false },
    );
    const client = await connect(stack.relayPort);
    const frame = Buffer.from([0xfe, 0x00, 0x42, 0xff]);
    client.ws.send(frame, { binary: true });
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(1);
    expect(client.received[0]?.data.equals(Buffer.concat([Buffer.from('re:'), frame]))).toBe(true);
    // Nothing went through Redis pub/sub.
    expect(await fx.subscribers(stack.env.REDISPATCH_CHANNEL ?? '')).toBe(0);
    await client.close();
  });
});
