import { decodeDeadOutboundEntry } from '@redispatch/shared';
import { freePort } from '@redispatch/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { connect, startStack, stopStacks } from '../helpers/relay-stack.js';

// Guarantee 11: no client can starve another. The relay bounds what one session may have
// outstanding (frames awaiting replies, reply bytes unsent) and stops reading a socket past it.

afterEach(stopStacks);
const fx = useProcessFixture();

const accepted = async (totals: string) => Number((await fx.admin.hget(totals, 'accepted')) ?? 0);

/** The raw TCP socket under a `ws` client: pausing it makes the client a reader that never reads. */
const rawSocket = (ws: WebSocket) =>
  (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;

describe('relay flow control', () => {
  it('a flooding client is held at REDISPATCH_RELAY_MAX_PENDING; a well-behaved client beside it is not', async () => {
    const stack = await startStack(
      fx,
      'flow-flood',
      { REDISPATCH_RELAY_MAX_PENDING: '32' },
      { worker: false },
    );
    const metricsPort = await freePort();
    await stack.startRelayWith({ REDISPATCH_METRICS_PORT: String(metricsPort) });
    const flood = await connect(stack.relayPort);
    const polite = await connect(stack.relayPort);
    const FLOOD = 3_000;
    for (let i = 0; i < FLOOD; i++) flood.ws.send(`f${i}`);
    // No worker yet, so no reply ever releases a slot: the relay publishes 32 of the flood and stops
    // reading that socket; the rest waits on the client's side of the connection, not in the channel.
    await expect.poll(() => accepted(stack.keys.totals), { timeout: 10_000 }).toBe(32);
    polite.ws.send('polite');
    await expect.poll(() => accepted(stack.keys.totals), { timeout: 10_000 }).toBe(33);
    // Held, not merely slow: a while later nothing more of the flood got through.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await accepted(stack.keys.totals)).toBe(33);
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/redispatch_relay_refusals_total\{reason="held_pending"[^}]*\} [1-9]/);

    // Replies release the held frames: every frame of both clients is answered, none lost.
    await stack.startWorker();
    await expect
      .poll(() => polite.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['re:polite']);
    await expect.poll(() => flood.received.length, { timeout: 60_000, interval: 200 }).toBe(FLOOD);
    const got = new Set(flood.received.map((r) => r.data.toString()));
    expect(got.size).toBe(FLOOD);
    for (let i = 0; i < FLOOD; i++) expect(got.has(`re:f${i}`)).toBe(true);
    await Promise.all([flood.close(), polite.close()]);
  }, 90_000);

  it('REDISPATCH_RELAY_FRAME_RATE holds a session to its rate without losing a frame', async () => {
    // The pending limit is raised out of the way: with no worker yet, it alone would hold the session at 16.
    const stack = await startStack(
      fx,
      'flow-rate',
      { REDISPATCH_RELAY_FRAME_RATE: '20', REDISPATCH_RELAY_MAX_PENDING: '1000' },
      { worker: false },
    );
    const client = await connect(stack.relayPort);
    for (let i = 0; i < 200; i++) client.ws.send(`r${i}`);
    // The bucket holds one second of frames (20); after that about 20 a second get through.
    await expect.poll(() => accepted(stack.keys.totals), { timeout: 10_000 }).toBeGreaterThanOrEqual(20);
    expect(await accepted(stack.keys.totals)).toBeLessThan(120);
    await stack.startWorker();
    await expect.poll(() => client.received.length, { timeout: 30_000, interval: 200 }).toBe(200);
    await client.close();
  }, 60_000);

  it('a client that never reads is closed (4008) once its unsent replies pass REDISPATCH_RELAY_MAX_BUFFERED_BYTES', async () => {
    const stack = await startStack(fx, 'flow-slow', {
      REDISPATCH_RELAY_MAX_BUFFERED_BYTES: String(2 * 1_048_576),
    });
    const client = await connect(stack.relayPort);
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    rawSocket(client.ws).pause();
    const FRAMES = 64;
    for (let i = 0; i < FRAMES; i++) client.ws.send('big:1024');
    // Every reply the relay produced is accounted for in Redis terms: written to the socket (kernel
    // buffers took some), or dead-lettered as session_overflow once the session held its limit. None
    // sits in the relay's heap.
    const overflowed = async () =>
      (await fx.admin.lrangeBuffer(stack.keys.outboundDead, 0, -1))
        .map((raw) => decodeDeadOutboundEntry(raw).reason)
        .filter((reason) => reason === 'session_overflow').length;
    await expect.poll(overflowed, { timeout: 30_000, interval: 200 }).toBeGreaterThan(0);
    // Frames the relay had not read when it closed the socket were never accepted (the client sees
    // the close); every frame it did publish is handled.
    const totals = async () => {
      const [accepted, acked] = await fx.admin.hmget(stack.keys.totals, 'accepted', 'acked');
      return { accepted: Number(accepted), acked: Number(acked) };
    };
    await expect
      .poll(
        async () => {
          const { accepted, acked } = await totals();
          return accepted > 0 && acked === accepted;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(true);
    const { accepted } = await totals();
    expect(accepted).toBeLessThanOrEqual(FRAMES);
    rawSocket(client.ws).resume();
    expect(await closed).toBe(4008);
    expect(stack.relay.child.exitCode).toBeNull();
    // What the relay did not write or dead-letter waits for a resume, within the byte limit; the
    // frames it read after the snapshot above may still be publishing, so the bound is what was sent.
    const delivered = client.received.length;
    expect(delivered + (await overflowed())).toBeLessThanOrEqual(FRAMES);
    expect(delivered).toBeLessThan(FRAMES);
  }, 60_000);
});
