import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeOutboundEntry, newSessionId, Publisher, relayAddress } from '@redispatch/shared';
import { freePort } from '@redispatch/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';
import {
  boundAddress,
  type Client,
  connect,
  outboundDeadLetters,
  startStack,
  stopStacks,
  usePublisherRedis,
} from '../helpers/relay-stack.js';

afterEach(stopStacks);
const fx = useProcessFixture();
const publishing = usePublisherRedis(fx, 'relay-test-publisher');
const deadLetters = (key: string) => outboundDeadLetters(fx.admin, key);

/** A loopback HTTP server that answers `failFirst` POSTs with 503, then 200; records every request. */
async function hookServer(failFirst: number) {
  const requests: { headers: IncomingMessage['headers']; body: Buffer; status: number }[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = requests.length < failFirst ? 503 : 200;
      requests.push({ headers: request.headers, body: Buffer.concat(chunks), status });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('redispatch relay', () => {
  it('round trip over one socket: text, JSON, several replies, and binary frames byte-exact', async () => {
    const stack = await startStack(fx, 'relay-rt');
    const client = await connect(stack.relayPort);
    expect(client.session).toMatch(/^[A-Za-z0-9_-]{22}$/);
    client.ws.send('hello');
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(1);
    expect(client.received[0]?.data.toString()).toBe('re:hello');
    expect(client.received[0]?.binary).toBe(true);

    client.ws.send('json:x');
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(2);
    expect(client.received[1]).toEqual({ data: Buffer.from('{"echo":"x"}'), binary: false });

    client.ws.send('many:3');
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(5);
    expect(client.received.slice(2).map((r) => r.data.toString())).toEqual(['part 0', 'part 1', 'part 2']);

    // Every byte value, starting with the envelope marker: the relay must wrap it, the worker unwrap it.
    const binary = Buffer.from([0xfe, 0x01, 0x00, ...Array.from({ length: 256 }, (_, i) => i), 0xff]);
    client.ws.send(binary, { binary: true });
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(6);
    expect(client.received[5]?.data.equals(Buffer.concat([Buffer.from('re:'), binary]))).toBe(true);
    await client.close();
  });

  it('200 concurrent sockets each get exactly their own replies', async () => {
    const stack = await startStack(fx, 'relay-200');
    const clients: Client[] = [];
    for (let i = 0; i < 200; i++) clients.push(await connect(stack.relayPort));
    expect(new Set(clients.map((c) => c.session)).size).toBe(200);
    const perClient = 5;
    for (let round = 0; round < perClient; round++)
      clients.forEach((client, i) => {
        client.ws.send(`c${i}-m${round}`);
      });
    await expect
      .poll(() => clients.reduce((sum, c) => sum + c.received.length, 0), { timeout: 30_000, interval: 100 })
      .toBe(200 * perClient);
    clients.forEach((client, i) => {
      const got = client.received.map((r) => r.data.toString()).sort();
      expect(got).toEqual(Array.from({ length: perClient }, (_, round) => `re:c${i}-m${round}`).sort());
    });
    await Promise.all(clients.map((c) => c.close()));
  });

  it('a reply for a session the relay does not hold goes to the fallback, never to another socket', async () => {
    const stack = await startStack(fx, 'relay-unknown');
    const bystander = await connect(stack.relayPort);
    const publisher = new Publisher({ redis: publishing.redis, channel: stack.env.REDISPATCH_CHANNEL ?? '' });
    const stranger = newSessionId();
    await publisher.publish('for nobody', { replyTo: relayAddress(stack.relayId, stranger) });
    // A relay that never registered: the worker dead-letters at once instead of queueing forever.
    await publisher.publish('for no relay', { replyTo: relayAddress('no-such-relay', newSessionId()) });
    await expect
      .poll(async () => (await deadLetters(stack.keys.outboundDead)).length, { timeout: 10_000 })
      .toBe(2);
    const dead = await deadLetters(stack.keys.outboundDead);
    const byReason = Object.fromEntries(dead.map((d) => [d.reason, d.entry]));
    expect(byReason.unknown_session?.payload.toString()).toBe('re:for nobody');
    expect(byReason.unknown_session?.replyTo).toBe(relayAddress(stack.relayId, stranger));
    expect(byReason.unknown_relay?.payload.toString()).toBe('re:for no relay');
    // The bystander's own traffic still works and it never saw the stranger's reply.
    bystander.ws.send('mine');
    await expect.poll(() => bystander.received.length, { timeout: 10_000 }).toBe(1);
    expect(bystander.received.map((r) => r.data.toString())).toEqual(['re:mine']);
    // Resuming a session the relay never issued is refused.
    await expect(connect(stack.relayPort, stranger)).rejects.toThrow(/404/);
    await bystander.close();
    // Operators see them with `redispatch outbound-dlq list`, and clear them with `purge`.
    const listed = await runCli(['outbound-dlq', 'list', '--json'], stack.env);
    expect(listed.code).toBe(0);
    const rows = listed.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(rows.map((r) => r.reason).sort()).toEqual(['unknown_relay', 'unknown_session']);
    expect(Buffer.from(rows.find((r) => r.reason === 'unknown_session').payload, 'base64').toString()).toBe(
      're:for nobody',
    );
    const purged = await runCli(['outbound-dlq', 'purge', '--yes'], stack.env);
    expect(purged.output).toContain('purged 2');
    expect(await fx.admin.llen(stack.keys.outboundDead)).toBe(0);
  });

  it('drop fallback counts and removes the reply', async () => {
    const metricsPort = await freePort();
    const stack = await startStack(fx, 'relay-drop', {
      REDISPATCH_RELAY_FALLBACK: 'drop',
      REDISPATCH_METRICS_HOST: '127.0.0.1',
    });
    // Only the relay serves metrics here (the shared env disables them for the other roles).
    await stack.startRelayWith({ REDISPATCH_METRICS_PORT: String(metricsPort) });
    const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const publisher = new Publisher({ redis: publishing.redis, channel: stack.env.REDISPATCH_CHANNEL ?? '' });
    await publisher.publish('dropped', { replyTo: relayAddress(stack.relayId, newSessionId()) });
    await expect
      .poll(async () => Number(await fx.admin.hget(stack.keys.totals, 'acked')), { timeout: 10_000 })
      .toBe(1);
    const processing = stack.keys.outboundProcessing(`relay:${stack.relayId}`, stack.relayId);
    await expect
      .poll(
        async () =>
          (await fx.admin.llen(stack.keys.outbound(`relay:${stack.relayId}`))) +
          (await fx.admin.llen(processing)),
        { timeout: 10_000 },
      )
      .toBe(0);
    expect(await fx.admin.llen(stack.keys.outboundDead)).toBe(0);
    await expect
      .poll(scrape, { timeout: 5_000 })
      .toMatch(/redispatch_relay_undeliverable_total\{[^}]*reason="unknown_session"[^}]*\} 1\b/);
    await expect
      .poll(scrape, { timeout: 5_000 })
      .toMatch(/redispatch_relay_sessions\{[^}]*state="attached"[^}]*\} 0\b/);
  });

  it('a relay restarted with the same id delivers what was queued while it was down, to the resumed session', async () => {
    const stack = await startStack(fx, 'relay-restart', {}, { worker: false });
    const client = await connect(stack.relayPort);
    const session = client.session;
    // No worker yet: the frames are accepted and wait in the backlog.
    for (let i = 0; i < 3; i++) client.ws.send(`queued-${i}`);
    await expect
      .poll(async () => Number(await fx.admin.hget(stack.keys.totals, 'accepted')), { timeout: 10_000 })
      .toBe(3);
    stack.relay.kill('SIGTERM');
    expect((await stack.relay.exited()).code).toBe(0);
    await expect.poll(() => client.ws.readyState, { timeout: 5_000 }).toBe(client.ws.CLOSED);
    // Replies produced while the relay is down wait in its outbound queue.
    await stack.startWorker();
    const queue = stack.keys.outbound(`relay:${stack.relayId}`);
    await expect.poll(() => fx.admin.llen(queue), { timeout: 10_000 }).toBe(3);

    await stack.startRelay();
    const resumed = await connect(stack.relayPort, { session, secret: client.secret });
    expect(resumed.session).toBe(session);
    await expect.poll(() => resumed.received.length, { timeout: 10_000 }).toBe(3);
    expect(resumed.received.map((r) => r.data.toString()).sort()).toEqual([
      're:queued-0',
      're:queued-1',
      're:queued-2',
    ]);
    expect(await fx.admin.llen(queue)).toBe(0);
    expect(await fx.admin.llen(stack.keys.outboundDead)).toBe(0);
    await resumed.close();
  });

  it('on SIGTERM the relay lets an open socket get its pending reply before closing it (1001)', async () => {
    const stack = await startStack(fx, 'relay-drain', { REDISPATCH_DRAIN_TIMEOUT_MS: '5000' });
    const client = await connect(stack.relayPort);
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    client.ws.send('slow:700');
    await expect
      .poll(async () => Number(await fx.admin.hget(stack.keys.totals, 'accepted')), { timeout: 10_000 })
      .toBe(1);
    stack.relay.kill('SIGTERM');
    expect(await closed).toBe(1001);
    expect(client.received.map((r) => r.data.toString())).toEqual(['re:slow:700']);
    expect((await stack.relay.exited()).code).toBe(0);
  });

  it('replies for a session not resumed within the resume window go to the fallback', async () => {
    const stack = await startStack(
      fx,
      'relay-expire',
      { REDISPATCH_RELAY_RESUME_MS: '1500' },
      { worker: false },
    );
    const client = await connect(stack.relayPort);
    await client.close();
    // A reply arriving while the session is detached waits for a resume...
    const [seconds] = await fx.admin.time();
    const entry = encodeOutboundEntry(
      {
        messageId: '5',
        replyTo: await boundAddress(stack, fx.admin, client.session),
        payload: Buffer.from('orphan'),
        text: true,
      },
      Number(seconds) * 1000,
    );
    await fx.admin.lpush(stack.keys.outbound(`relay:${stack.relayId}`), entry);
    const processing = stack.keys.outboundProcessing(`relay:${stack.relayId}`, stack.relayId);
    await expect.poll(() => fx.admin.llen(processing), { timeout: 5_000 }).toBe(1);
    // ...and goes to the fallback when the window passes without one.
    await expect
      .poll(async () => (await deadLetters(stack.keys.outboundDead)).length, { timeout: 10_000 })
      .toBe(1);
    const [dead] = await deadLetters(stack.keys.outboundDead);
    expect(dead?.reason).toBe('session_expired');
    expect(dead?.entry?.payload.toString()).toBe('orphan');
    expect(await fx.admin.llen(processing)).toBe(0);
    // The session is forgotten: resuming it now is refused.
    await expect(connect(stack.relayPort, client.session)).rejects.toThrow(/404/);
  });

  it('an entry left in the processing list by a lost take reply is delivered once the connection is back', async () => {
    const stack = await startStack(fx, 'relay-lost', {}, { worker: false });
    const client = await connect(stack.relayPort);
    const [seconds] = await fx.admin.time();
    const route = `relay:${stack.relayId}`;
    const stranded = encodeOutboundEntry(
      {
        messageId: '7',
        replyTo: await boundAddress(stack, fx.admin, client.session),
        payload: Buffer.from('stranded'),
        text: true,
      },
      Number(seconds) * 1000,
    );
    // As if Redis had executed the relay's BLMOVE and the reply died with the connection.
    await fx.admin.lpush(stack.keys.outboundProcessing(route, stack.relayId), stranded);
    const clients = String(await fx.admin.client('LIST'));
    const blocking = clients
      .split('\n')
      .find((line) => line.includes(`name=rd-relay-block-${stack.relayId} `));
    const id = /\bid=(\d+)/.exec(blocking ?? '')?.[1];
    expect(id).toBeDefined();
    await fx.admin.client('KILL', 'ID', id ?? '');
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(1);
    expect(client.received[0]).toEqual({ data: Buffer.from('stranded'), binary: false });
    await expect
      .poll(() => fx.admin.llen(stack.keys.outboundProcessing(route, stack.relayId)), { timeout: 5_000 })
      .toBe(0);
    await client.close();
  });

  it('HTTP deliverer retries a failing endpoint with backoff, then delivers; dead-letters after max attempts', async () => {
    const flaky = await hookServer(2);
    const down = await hookServer(Number.POSITIVE_INFINITY);
    const forbidden = await hookServer(0);
    const stack = await startStack(fx, 'relay-http', {
      REDISPATCH_HTTP_MAX_ATTEMPTS: '4',
      REDISPATCH_HTTP_BACKOFF_BASE_MS: '50',
      REDISPATCH_HTTP_ALLOW: `${flaky.url},${down.url}`,
    });
    const publisher = new Publisher({ redis: publishing.redis, channel: stack.env.REDISPATCH_CHANNEL ?? '' });
    await publisher.publish('webhook', { replyTo: flaky.url });
    await expect.poll(() => flaky.requests.length, { timeout: 15_000 }).toBe(3);
    expect(flaky.requests.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(flaky.requests.map((r) => r.headers['x-redispatch-attempt'])).toEqual(['1', '2', '3']);
    const ids = new Set(flaky.requests.map((r) => r.headers['x-redispatch-message-id']));
    expect(ids.size).toBe(1);
    expect(flaky.requests[2]?.body.toString()).toBe('re:webhook');
    expect(flaky.requests[2]?.headers['content-type']).toBe('application/octet-stream');

    await publisher.publish('never', { replyTo: down.url });
    await expect
      .poll(async () => (await deadLetters(stack.keys.outboundDead)).length, { timeout: 15_000 })
      .toBe(1);
    const [dead] = await deadLetters(stack.keys.outboundDead);
    expect(down.requests.length).toBe(4);
    expect(dead?.reason).toBe('http: status 503');
    expect(dead?.entry?.payload.toString()).toBe('re:never');
    // A URL outside REDISPATCH_HTTP_ALLOW is never contacted.
    await publisher.publish('elsewhere', { replyTo: forbidden.url });
    await expect
      .poll(async () => (await deadLetters(stack.keys.outboundDead)).length, { timeout: 15_000 })
      .toBe(2);
    expect((await deadLetters(stack.keys.outboundDead))[0]?.reason).toBe(
      'http: not allowed by REDISPATCH_HTTP_ALLOW',
    );
    expect(forbidden.requests).toEqual([]);
    // Nothing is left in flight.
    expect(await fx.admin.llen(stack.keys.outbound('http'))).toBe(0);
    expect(await fx.admin.llen(stack.keys.outboundProcessing('http', stack.relayId))).toBe(0);
    await Promise.all([flaky.close(), down.close(), forbidden.close()]);
  });

  it('a relay silent past the retention period is swept by a peer: socket replies dead-lettered, HTTP replies handed on', async () => {
    // Retention 3 s: the handed-on HTTP reply must still be fresh when the live relay's deliverer takes
    // it (with 1 s, a loaded box sometimes took longer than that and dead-lettered it as expired).
    const hook = await hookServer(0);
    const stack = await startStack(fx, 'relay-sweep', {
      REDISPATCH_RELAY_RETENTION_MS: '3000',
      REDISPATCH_HTTP_ALLOW: hook.url,
    });
    const client = await connect(stack.relayPort);
    const k = stack.keys;
    const [seconds] = await fx.admin.time();
    const now = Number(seconds) * 1000;
    // A relay "ghost" that died long ago, with a reply still queued and an HTTP reply it had taken
    // (written in one transaction, so the live relay's sweep cannot run between the steps).
    const socketReply = encodeOutboundEntry(
      {
        messageId: '1',
        replyTo: relayAddress('ghost', newSessionId()),
        payload: Buffer.from('lost'),
        text: true,
      },
      now,
    );
    const httpReply = encodeOutboundEntry(
      { messageId: '2', replyTo: hook.url, payload: Buffer.from('handed on'), text: true },
      now,
    );
    await fx.admin
      .multi()
      .lpush(k.outbound('relay:ghost'), socketReply)
      .lpush(k.outboundProcessing('http', 'ghost'), httpReply)
      .hset(k.relaySessions('ghost'), 'x', '0')
      .zadd(k.relays, now - 60_000, 'ghost')
      .exec();

    await expect.poll(() => fx.admin.zscore(k.relays, 'ghost'), { timeout: 10_000 }).toBeNull();
    const dead = await deadLetters(k.outboundDead);
    expect(dead.map((d) => [d.reason, d.entry?.payload.toString()])).toEqual([['relay_gone', 'lost']]);
    expect(await fx.admin.exists(k.outbound('relay:ghost'), k.relaySessions('ghost'))).toBe(0);
    await expect.poll(() => hook.requests.length, { timeout: 10_000 }).toBe(1);
    expect(hook.requests[0]?.body.toString()).toBe('handed on');
    expect(hook.requests[0]?.headers['content-type']).toBe('text/plain; charset=utf-8');
    // The live relay itself is never swept.
    expect(await fx.admin.zscore(k.relays, stack.relayId)).not.toBeNull();

    // A reply queued longer ago than the retention period is not delivered, even to a live session.
    const old = encodeOutboundEntry(
      {
        messageId: '3',
        replyTo: await boundAddress(stack, fx.admin, client.session),
        payload: Buffer.from('too old'),
        text: true,
      },
      now - 10_000,
    );
    await fx.admin.lpush(k.outbound(`relay:${stack.relayId}`), old);
    await expect.poll(async () => (await deadLetters(k.outboundDead)).length, { timeout: 10_000 }).toBe(2);
    expect((await deadLetters(k.outboundDead))[0]?.reason).toBe('expired');
    expect(client.received).toEqual([]);
    await Promise.all([hook.close(), client.close()]);
  });
});
