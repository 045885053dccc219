import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

const PASSWORD = 's3cret-Passw0rd';
let dir = '';
let server: RedisHandle;
let tlsPort = 0;
const processes: CliProcess[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA and a server certificate for 127.0.0.1, made fresh for this run. */
function makeCertificates(name: string): void {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}-ca`,
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}-server.key`,
    '-out',
    `${name}-server.csr`,
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl([
    'x509',
    '-req',
    '-in',
    `${name}-server.csr`,
    '-CA',
    `${name}-ca.crt`,
    '-CAkey',
    `${name}-ca.key`,
    '-CAcreateserial',
    '-out',
    `${name}-server.crt`,
    '-days',
    '1',
    '-extfile',
    'san.cnf',
  ]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-tls-'));
  makeCertificates('good');
  makeCertificates('other');
  tlsPort = await freePort();
  server = await startRedisProcess({
    args: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      join(dir, 'good-server.crt'),
      '--tls-key-file',
      join(dir, 'good-server.key'),
      '--tls-ca-cert-file',
      join(dir, 'good-ca.crt'),
      '--tls-auth-clients',
      'no',
      '--requirepass',
      PASSWORD,
    ],
  });
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('rediss:// with a password', () => {
  it('routes messages over TLS with verification on, and never prints the password', async () => {
    const prefix = uniquePrefix('tls');
    const url = `rediss://:${PASSWORD}@127.0.0.1:${tlsPort}`;
    const checkDir = mkdtempSync(join(dir, 'check-'));
    const env = {
      ...testEnv(url, prefix),
      REDISPATCH_TLS_CA_FILE: join(dir, 'good-ca.crt'),
      CHECK_DIR: checkDir,
    };
    const dispatcher = spawnCli(['dispatcher'], env);
    const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER], env);
    processes.push(dispatcher, worker);
    await Promise.all([
      dispatcher.waitForLog(/"msg":"elected leader"/),
      worker.waitForLog(/worker registered/),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const publish = await runCli(['publish', '--count', '200', '--run-id', 'tls'], env);
    expect(publish.code).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'tls', 200).lost, { timeout: 10_000 }).toBe(0);
    const stats = await runCli(['stats', '--json'], env);
    expect(JSON.parse(stats.output).totals.acked).toBe(200);
    for (const text of [dispatcher.output(), worker.output(), publish.output, stats.output]) {
      expect(text).not.toContain(PASSWORD);
    }
  });

  it('refuses a server whose certificate another CA signed, in one line naming the setting', async () => {
    const env = {
      ...testEnv(`rediss://:${PASSWORD}@127.0.0.1:${tlsPort}`, uniquePrefix('tlsbad')),
      REDISPATCH_TLS_CA_FILE: join(dir, 'other-ca.crt'),
    };
    const result = await runCli(['stats'], env);
    expect(result.code).toBe(1);
    expect(result.lines).toHaveLength(1);
    expect(result.lines[0]).toMatch(
      /^redispatch: REDISPATCH_REDIS_URL: cannot connect to rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+/,
    );
    expect(result.lines[0]).toMatch(/certificate/i);
    expect(result.output).not.toContain(PASSWORD);
  });

  it('refuses a wrong password without echoing either password', async () => {
    const env = testEnv(`rediss://:wrong-${PASSWORD}@127.0.0.1:${tlsPort}`, uniquePrefix('tlspass'));
    const result = await runCli(['stats'], { ...env, REDISPATCH_TLS_CA_FILE: join(dir, 'good-ca.crt') });
    expect(result.code).toBe(1);
    expect(result.output).not.toContain(PASSWORD);
    expect(result.lines[0]).toMatch(/WRONGPASS|invalid password|NOAUTH/i);
  });
});
