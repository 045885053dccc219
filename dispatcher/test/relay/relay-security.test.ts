import { mkdtempSync, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Publisher, relayAddress } from '@redispatch/shared';
import { freePort, makeTestPki } from '@redispatch/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useProcessFixture } from '../helpers/process-fixture.js';
import {
  boundAddress,
  connect,
  outboundDeadLetters,
  type Stack,
  startStack,
  stopStacks,
  usePublisherRedis,
} from '../helpers/relay-stack.js';

// The relay is the one process strangers reach. Each test here is an attack that worked before the
// relay was hardened (issue 21): it must now be refused, and the relay must stay up for everyone else.

afterEach(stopStacks);
const fx = useProcessFixture();
const AUTH_HOOK = fileURLToPath(new URL('./fixtures/relay-auth.mjs', import.meta.url));
const publishing = usePublisherRedis(fx, 'relay-security-publisher');
const deadLetters = (key: string) => outboundDeadLetters(fx.admin, key);

/** The status line a raw upgrade request gets (the relay refuses before any WebSocket exists). */
function upgradeStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (status) {
        resolve(Number(status[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra.join('')}\r\n`,
    );
  });
}

/** Sends an upgrade the relay will refuse, then resets the connection (RST) at once. */
function upgradeThenReset(port: number, path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        () => {
          socket.resetAndDestroy();
          resolve();
        },
      );
    });
    socket.on('error', () => resolve());
  });
}

async function roundTrip(stack: Stack, text: string): Promise<void> {
  const client = await connect(stack.relayPort);
  client.ws.send(text);
  await expect
    .poll(() => client.received.map((r) => r.data.toString()), { timeout: 10_000 })
    .toEqual([`re:${text}`]);
  await client.close();
}

describe('relay under attack', () => {
  it('a client resetting its connection while being refused never crashes the relay (100 tries)', async () => {
    const stack = await startStack(fx, 'sec-reset', { REDISPATCH_RELAY_MAX_CONNECTIONS: '1' });
    const holder = await connect(stack.relayPort);
    for (let i = 0; i < 100; i++) {
      // Alternate the refusal paths: unknown session (404), and the connection limit (503).
      await upgradeThenReset(stack.relayPort, i % 2 === 0 ? '/?session=nope' : '/');
    }
    expect(stack.relay.child.exitCode).toBeNull();
    expect(await upgradeStatus(stack.relayPort, '/')).toBe(503);
    await holder.close();
    await expect.poll(() => upgradeStatus(stack.relayPort, '/?session=nope'), { timeout: 5_000 }).toBe(404);
    await roundTrip(stack, 'still alive');
    expect(stack.relay.output()).not.toMatch(/ECONNRESET|uncaught/i);
  });

  it('knowing a session id is not enough to take the session: the resume secret is, and it is never stored', async () => {
    const stack = await startStack(fx, 'sec-takeover');
    const victim = await connect(stack.relayPort);
    expect(victim.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The attacker has the routing id (it is in every reply address), not the secret.
    await expect(connect(stack.relayPort, { session: victim.session })).rejects.toThrow(/401/);
    await expect(
      connect(stack.relayPort, { session: victim.session, secret: 'A'.repeat(43) }),
    ).rejects.toThrow(/401/);
    await expect(
      connect(stack.relayPort, {
        session: victim.session,
        protocols: [`redispatch.resume.${'B'.repeat(43)}`],
      }),
    ).rejects.toThrow(/401/);
    // The victim's socket is untouched and still gets its own reply.
    expect(victim.ws.readyState).toBe(WebSocket.OPEN);
    victim.ws.send('mine');
    await expect
      .poll(() => victim.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['re:mine']);
    // Redis holds only the secret's hash.
    const stored = await fx.admin.hgetall(stack.keys.relaySessions(stack.relayId));
    expect(Object.values(stored).join()).not.toContain(victim.secret);
    expect(stack.relay.output()).not.toContain(victim.secret);
    // The owner, with the secret in a header, resumes (and the old socket is closed with 4001).
    const closed = new Promise<number>((resolve) => victim.ws.once('close', (code) => resolve(code)));
    const owner = await connect(stack.relayPort, { session: victim.session, secret: victim.secret });
    expect(await closed).toBe(4001);
    owner.ws.send('again');
    await expect
      .poll(() => owner.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['re:again']);
    // A browser (no custom headers) gets id and secret in a first frame and resumes by subprotocol.
    const browser = await connect(stack.relayPort, { protocols: ['redispatch.v1'] });
    await expect.poll(() => browser.received.length, { timeout: 5_000 }).toBe(1);
    const hello = JSON.parse(browser.received[0]?.data.toString() ?? '{}');
    expect(hello).toEqual({ type: 'session', session: browser.session, resume: browser.secret });
    await browser.close();
    const back = await connect(stack.relayPort, {
      session: hello.session,
      protocols: ['redispatch.v1', `redispatch.resume.${hello.resume}`],
    });
    expect(back.session).toBe(hello.session);
    await Promise.all([owner.close(), back.close()]);
  });

  it('a reply address aimed at another session is not delivered: replies are bound to the frames that session sent', async () => {
    const stack = await startStack(fx, 'sec-forge');
    const victim = await connect(stack.relayPort);
    const attacker = await connect(stack.relayPort);
    const publisher = new Publisher({ redis: publishing.redis, channel: stack.env.REDISPATCH_CHANNEL ?? '' });
    // 1. The bare routing address, as any publisher could write it.
    await publisher.publish('forged-bare', { replyTo: relayAddress(stack.relayId, victim.session) });
    // 2. A valid binding minted for the attacker's session, grafted onto the victim's id.
    const attackerAddress = await boundAddress(stack, fx.admin, attacker.session);
    const graft = attackerAddress.replace(attacker.session, victim.session);
    await publisher.publish('forged-graft', { replyTo: graft });
    // 3. A binding that is not base64 of the right length.
    await publisher.publish('forged-junk', {
      replyTo: `${relayAddress(stack.relayId, victim.session)}.AAAA`,
    });
    await expect
      .poll(async () => (await deadLetters(stack.keys.outboundDead)).length, { timeout: 10_000 })
      .toBe(3);
    const dead = await deadLetters(stack.keys.outboundDead);
    expect(dead.map((d) => d.reason)).toEqual(['unbound', 'unbound', 'unbound']);
    expect(dead.map((d) => d.entry?.payload.toString()).sort()).toEqual([
      're:forged-bare',
      're:forged-graft',
      're:forged-junk',
    ]);
    // The victim's own frame is answered, and that is all it ever receives.
    victim.ws.send('own');
    await expect
      .poll(() => victim.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['re:own']);
    expect(attacker.received).toEqual([]);
    await Promise.all([victim.close(), attacker.close()]);
  });

  it('only the allowed browser origins may connect (REDISPATCH_RELAY_ORIGINS)', async () => {
    const stack = await startStack(fx, 'sec-origin', { REDISPATCH_RELAY_ORIGINS: 'https://app.example.com' });
    // Only the relay serves metrics (the shared env disables them for the other roles).
    const port = await freePort();
    await stack.startRelayWith({ REDISPATCH_METRICS_PORT: String(port) });
    expect(await upgradeStatus(stack.relayPort, '/', { Origin: 'https://evil.example.com' })).toBe(403);
    expect(await upgradeStatus(stack.relayPort, '/', { Origin: 'https://app.example.com.evil.io' })).toBe(
      403,
    );
    expect(await upgradeStatus(stack.relayPort, '/', { Origin: 'null' })).toBe(403);
    const allowed = await connect(stack.relayPort, { headers: { Origin: 'https://app.example.com' } });
    allowed.ws.send('hi');
    await expect.poll(() => allowed.received.length, { timeout: 10_000 }).toBe(1);
    // Not a browser (no Origin header): the origin check does not apply.
    await roundTrip(stack, 'server-side client');
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/redispatch_relay_refusals_total\{reason="origin"[^}]*\} 3\b/);
    await allowed.close();
  });

  it('the auth hook admits or refuses each client, and its identity reaches the handler', async () => {
    const stack = await startStack(fx, 'sec-auth', { REDISPATCH_RELAY_AUTH: AUTH_HOOK });
    expect(await upgradeStatus(stack.relayPort, '/')).toBe(401);
    expect(await upgradeStatus(stack.relayPort, '/', { Authorization: 'Bearer wrong' })).toBe(401);
    expect(await upgradeStatus(stack.relayPort, '/', { Authorization: 'Bearer boom' })).toBe(503);
    await stack.relay.waitForLog(/identity provider unreachable/, 10_000);
    const alice = await connect(stack.relayPort, { headers: { Authorization: 'Bearer ok-alice' } });
    const bob = await connect(stack.relayPort, { headers: { Authorization: 'Bearer plain-bob' } });
    alice.ws.send('whoami');
    bob.ws.send('whoami');
    await expect
      .poll(() => alice.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['identity:{"user":"alice","via":"tcp"}']);
    await expect
      .poll(() => bob.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['identity:bob']);
    // A resume must pass the hook as the same identity: bob's secret in mallory's hands is refused.
    await bob.close();
    await expect(
      connect(stack.relayPort, {
        session: bob.session,
        secret: bob.secret,
        headers: { Authorization: 'Bearer plain-mallory' },
      }),
    ).rejects.toThrow(/403/);
    const bobAgain = await connect(stack.relayPort, {
      session: bob.session,
      secret: bob.secret,
      headers: { Authorization: 'Bearer plain-bob' },
    });
    expect(bobAgain.session).toBe(bob.session);
    await Promise.all([alice.close(), bobAgain.close()]);
  });

  it('a relay over REDISPATCH_RELAY_MAX_CONNECTIONS refuses with 503 and accepts again once one leaves', async () => {
    const stack = await startStack(fx, 'sec-limit', { REDISPATCH_RELAY_MAX_CONNECTIONS: '3' });
    const open = await Promise.all([0, 1, 2].map(() => connect(stack.relayPort)));
    await expect(connect(stack.relayPort)).rejects.toThrow(/503/);
    await open[0]?.close();
    const next = await connect(stack.relayPort);
    expect(next.ws.readyState).toBe(WebSocket.OPEN);
    await Promise.all([next, ...open.slice(1)].map((c) => c?.close()));
  });

  it('a socket that answers no ping is closed after REDISPATCH_RELAY_IDLE_MS; a live one stays', async () => {
    const stack = await startStack(fx, 'sec-idle', { REDISPATCH_RELAY_IDLE_MS: '900' });
    const live = await connect(stack.relayPort);
    // A vanished peer: its socket is open, but nothing answers the relay's pings.
    const ghost = new WebSocket(`ws://127.0.0.1:${stack.relayPort}/`, { autoPong: false });
    const ghostClosed = new Promise<number>((resolve) => ghost.once('close', (code) => resolve(code)));
    expect(await ghostClosed).toBe(4009);
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    live.ws.send('after idle');
    await expect.poll(() => live.received.length, { timeout: 10_000 }).toBe(1);
    await live.close();
  });

  it('slowloris: a client that never finishes its request headers is cut off', async () => {
    const stack = await startStack(fx, 'sec-slowloris');
    const socket = tcpConnect(stack.relayPort, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 1_000);
    await closed;
    clearInterval(trickle);
    expect(socket.destroyed).toBe(true);
    await roundTrip(stack, 'after slowloris');
  }, 30_000);

  it('wss://: the relay terminates TLS itself with REDISPATCH_RELAY_TLS_CERT_FILE / _KEY_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
    const pki = makeTestPki(dir, 'relay');
    const stack = await startStack(fx, 'sec-wss', {
      REDISPATCH_RELAY_TLS_CERT_FILE: pki.serverCert,
      REDISPATCH_RELAY_TLS_KEY_FILE: pki.serverKey,
    });
    const ca = readFileSync(pki.caCert);
    const client = await connect(stack.relayPort, { ca });
    client.ws.send('over tls');
    await expect
      .poll(() => client.received.map((r) => r.data.toString()), { timeout: 10_000 })
      .toEqual(['re:over tls']);
    await client.close();
    // Plain ws:// to a wss:// relay gets no WebSocket.
    await expect(connect(stack.relayPort)).rejects.toThrow();
  });
});
