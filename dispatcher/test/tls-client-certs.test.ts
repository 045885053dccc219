import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  makeSelfSignedCert,
  makeTestPki,
  type RedisHandle,
  startRedisProcess,
  type TestPki,
} from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Certificates are made by openssl for this run; the servers are real redis-server TLS listeners.
let dir = '';
let pki: TestPki;
let mtlsServer: RedisHandle;
let selfSignedServer: RedisHandle;
let mtlsPort = 0;
let selfSignedPort = 0;
const processes: CliProcess[] = [];

function start(args: string[], env: Record<string, string>): CliProcess {
  const proc = spawnCli(args, env);
  processes.push(proc);
  return proc;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-mtls-'));
  pki = makeTestPki(dir, 'mtls');
  const self = makeSelfSignedCert(dir, 'self');
  [mtlsPort, selfSignedPort] = await Promise.all([freePort(), freePort()]);
  [mtlsServer, selfSignedServer] = await Promise.all([
    startRedisProcess({
      args: [
        '--tls-port',
        String(mtlsPort),
        '--tls-cert-file',
        pki.serverCert,
        '--tls-key-file',
        pki.serverKey,
        '--tls-ca-cert-file',
        pki.caCert,
        '--tls-auth-clients',
        'yes',
      ],
    }),
    startRedisProcess({
      args: [
        '--tls-port',
        String(selfSignedPort),
        '--tls-cert-file',
        self.cert,
        '--tls-key-file',
        self.key,
        '--tls-auth-clients',
        'no',
      ],
    }),
  ]);
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await Promise.all([mtlsServer?.stop(), selfSignedServer?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a dispatcher and a worker, publishes `count` messages and waits until every one was handled. */
async function moveMessages(env: Record<string, string>, runId: string, count: number) {
  const checkDir = mkdtempSync(join(dir, 'check-'));
  const withCheck = { ...env, CHECK_DIR: checkDir };
  const dispatcher = start(['dispatcher'], withCheck);
  const worker = start(['worker', '--handler', CHECKER_HANDLER], withCheck);
  await Promise.all([
    dispatcher.waitForLog(/"msg":"elected leader"/),
    worker.waitForLog(/worker registered/),
  ]);
  // The leader learns of the worker on its next reap (100 ms here); until then messages wait in the backlog.
  const publish = await runCli(['publish', '--count', String(count), '--run-id', runId], withCheck);
  expect(publish.code, publish.output).toBe(0);
  await expect.poll(() => checkRun(checkDir, runId, count).lost, { timeout: 15_000 }).toBe(0);
  return { dispatcher, worker };
}

describe('rediss:// with client certificates (--tls-auth-clients yes)', () => {
  it('refuses a client without a certificate in one line naming REDISPATCH_TLS_CERT_FILE', async () => {
    const env = {
      ...testEnv(`rediss://127.0.0.1:${mtlsPort}`, uniquePrefix('nocert')),
      REDISPATCH_TLS_CA_FILE: pki.caCert,
    };
    const stats = await runCli(['stats'], env);
    expect(stats.code).toBe(1);
    expect(stats.lines).toHaveLength(1);
    expect(stats.lines[0]).toMatch(
      /^redispatch: REDISPATCH_REDIS_URL: cannot connect to rediss:\/\/127\.0\.0\.1:\d+/,
    );
    expect(stats.lines[0]).toContain('REDISPATCH_TLS_CERT_FILE');

    // A long-running role fails the same way and exits instead of retrying forever.
    const worker = await runCli(['worker', '--handler', CHECKER_HANDLER], env);
    expect(worker.code).toBe(1);
    expect(worker.lines.filter((l) => !l.startsWith('{')).at(-1)).toMatch(
      /^redispatch: REDISPATCH_REDIS_URL: .*REDISPATCH_TLS_CERT_FILE/,
    );
  });

  it('moves messages through dispatcher and worker processes presenting REDISPATCH_TLS_CERT_FILE/KEY_FILE', async () => {
    const prefix = uniquePrefix('mtls');
    const env = {
      ...testEnv(`rediss://127.0.0.1:${mtlsPort}`, prefix),
      REDISPATCH_TLS_CA_FILE: pki.caCert,
      REDISPATCH_TLS_CERT_FILE: pki.clientCert,
      REDISPATCH_TLS_KEY_FILE: pki.clientKey,
    };
    const { dispatcher, worker } = await moveMessages(env, 'mtls', 200);
    const stats = await runCli(['stats', '--json'], env);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.output).totals.acked).toBe(200);
    // Verification stayed on: nothing warned about it.
    expect(dispatcher.output()).not.toMatch(/DISABLED/);
    expect(worker.output()).not.toMatch(/DISABLED/);
    dispatcher.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect((await dispatcher.exited()).code).toBe(0);
    expect((await worker.exited()).code).toBe(0);
  });
});

/**
 * A TCP relay in front of the mTLS Redis that turns its close into a reset: it passes the handshake and
 * the server's "certificate required" alert through, then, `delayMs` after the server closed, resets
 * the client's connection (RST) instead of closing it. The client's TLS socket then reports two errors:
 * the alert (emitted while the socket stays open: TLS 1.3 finished the handshake on the client's side)
 * and ECONNRESET. A loaded machine produced the same pair by chance (the client's first command crossed
 * the server's close); here it happens every time, at delays from before to after the client reacts.
 */
async function resettingRelay(
  targetPort: number,
  delayMs: number,
): Promise<{ port: number; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.on('error', () => {});
    client.pipe(upstream);
    upstream.on('data', (chunk) => client.write(chunk));
    upstream.on('close', () => setTimeout(() => client.resetAndDestroy(), delayMs));
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, server };
}

describe('rediss:// to a server that resets the connection after the handshake', () => {
  it.each([0, 5, 20, 60, 200])(
    'stats without a client certificate prints its one-line error, never an unhandled socket error (reset %i ms after the server closed)',
    async (delayMs) => {
      const relay = await resettingRelay(mtlsPort, delayMs);
      try {
        const env = {
          ...testEnv(`rediss://127.0.0.1:${relay.port}`, uniquePrefix('reset')),
          REDISPATCH_TLS_CA_FILE: pki.caCert,
        };
        const stats = await runCli(['stats'], env);
        expect(stats.lines, stats.output).toHaveLength(1);
        expect(stats.lines[0]).toMatch(/^redispatch: REDISPATCH_REDIS_URL: cannot connect to rediss:/);
        expect(stats.lines[0]).toContain('REDISPATCH_TLS_CERT_FILE');
        expect(stats.code).toBe(1);
      } finally {
        await new Promise((resolve) => relay.server.close(resolve));
      }
    },
  );
});

describe('certificate verification', () => {
  it('is on by default: a self-signed server without a CA file is refused, naming REDISPATCH_TLS_CA_FILE', async () => {
    const env = testEnv(`rediss://127.0.0.1:${selfSignedPort}`, uniquePrefix('selfsigned'));
    const stats = await runCli(['stats'], env);
    expect(stats.code).toBe(1);
    expect(stats.lines).toHaveLength(1);
    expect(stats.lines[0]).toMatch(/self-signed certificate/);
    expect(stats.lines[0]).toContain('REDISPATCH_TLS_CA_FILE');
    const dispatcher = await runCli(['dispatcher'], env);
    expect(dispatcher.code).toBe(1);
    expect(dispatcher.lines.filter((l) => !l.startsWith('{')).at(-1)).toMatch(
      /^redispatch: REDISPATCH_REDIS_URL: .*self-signed certificate/,
    );
  });

  it('is off only with REDISPATCH_TLS_INSECURE=true, and then dispatcher, worker and CLI warn loudly', async () => {
    const prefix = uniquePrefix('insecure');
    const env = {
      ...testEnv(`rediss://127.0.0.1:${selfSignedPort}`, prefix),
      REDISPATCH_TLS_INSECURE: 'true',
    };
    const { dispatcher, worker } = await moveMessages(env, 'insecure', 50);
    const warning =
      /"level":40,.*"msg":"TLS certificate verification is DISABLED \(REDISPATCH_TLS_INSECURE=true\)/;
    expect(dispatcher.output()).toMatch(warning);
    expect(worker.output()).toMatch(warning);
    const stats = await runCli(['stats', '--json'], env);
    expect(stats.code).toBe(0);
    expect(stats.output).toMatch(/^redispatch: WARNING: TLS certificate verification is DISABLED/m);
  });
});
