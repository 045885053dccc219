import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeTestPki,
  type NatsHandle,
  type RedisHandle,
  startNatsServer,
  startRedisProcess,
  type TestPki,
} from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Real nats-servers with authentication: user/password (JetStream on), a token, and TLS with a CA made
// by openssl. The dispatcher consumes from each; the worker is plain Redis.
const random = () => Math.random().toString(36).slice(2, 12);
const USER = 'alice';
const PASSWORD = `Np-${random()}`;
const TOKEN = `Nt-${random()}`;
const TLS_PASSWORD = `Ntls-${random()}`;
const SECRETS = [PASSWORD, TOKEN, TLS_PASSWORD];

let dir = '';
let pki: TestPki;
let redis: RedisHandle;
let userPass: NatsHandle;
let token: NatsHandle;
let tls: NatsHandle;
const processes: CliProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-nats-auth-'));
  pki = makeTestPki(dir, 'nats');
  [redis, userPass, token, tls] = await Promise.all([
    startRedisProcess(),
    startNatsServer({ jetstream: true, args: ['--user', USER, '--pass', PASSWORD] }),
    startNatsServer({ args: ['--auth', TOKEN] }),
    // TLS required, and a user on top: the password travels only inside the TLS session.
    startNatsServer({
      config: [
        'tls {',
        `  cert_file: "${pki.serverCert}"`,
        `  key_file: "${pki.serverKey}"`,
        '}',
        'authorization {',
        `  user: "${USER}"`,
        `  password: "${TLS_PASSWORD}"`,
        '}',
      ].join('\n'),
    }),
  ]);
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await Promise.all([redis?.stop(), userPass?.stop(), token?.stop(), tls?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

interface Case {
  name: string;
  ingress: 'nats' | 'jetstream';
  url: () => string;
  extra?: () => Record<string, string>;
}

const CASES: Case[] = [
  {
    name: 'user/password',
    ingress: 'nats',
    url: () => `nats://${USER}:${PASSWORD}@127.0.0.1:${userPass.port}`,
  },
  {
    name: 'user/password, JetStream',
    ingress: 'jetstream',
    url: () => `nats://${USER}:${PASSWORD}@127.0.0.1:${userPass.port}`,
  },
  { name: 'token', ingress: 'nats', url: () => `nats://${TOKEN}@127.0.0.1:${token.port}` },
  {
    name: 'TLS with REDISPATCH_NATS_TLS_CA_FILE and a password',
    ingress: 'nats',
    url: () => `tls://${USER}:${TLS_PASSWORD}@127.0.0.1:${tls.port}`,
    extra: () => ({ REDISPATCH_NATS_TLS_CA_FILE: pki.caCert }),
  },
];

describe('NATS ingress against auth-enabled nats-servers', () => {
  for (const testCase of CASES) {
    it(`consumes and routes messages with ${testCase.name}`, async () => {
      const prefix = uniquePrefix('natsauth');
      const checkDir = mkdtempSync(join(dir, 'check-'));
      const env = {
        ...testEnv(redis.url, prefix),
        CHECK_DIR: checkDir,
        REDISPATCH_INGRESS: testCase.ingress,
        REDISPATCH_NATS_URL: testCase.url(),
        REDISPATCH_NATS_SUBJECT: `${prefix}.in`,
        REDISPATCH_NATS_STREAM: `S-${prefix}`,
        ...testCase.extra?.(),
      };
      const dispatcher = spawnCli(['dispatcher'], env);
      const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER], env);
      processes.push(dispatcher, worker);
      await Promise.all([
        dispatcher.waitForLog(/"msg":"elected leader"/),
        worker.waitForLog(/worker registered/),
      ]);
      const publish = await runCli(['publish', '--count', '200', '--run-id', 'nats'], env);
      expect(publish.code, publish.output).toBe(0);
      await expect.poll(() => checkRun(checkDir, 'nats', 200).lost, { timeout: 15_000 }).toBe(0);
      dispatcher.kill('SIGTERM');
      worker.kill('SIGTERM');
      expect((await dispatcher.exited()).code).toBe(0);
      await worker.exited();
      expectNoSecret(dispatcher.output() + worker.output() + publish.output);
    });
  }

  it('refuses wrong credentials and an untrusted certificate in one line naming the setting, no secret', async () => {
    const env = testEnv(redis.url, uniquePrefix('natsbad'), { REDISPATCH_INGRESS: 'nats' });
    const attempts: [string, Record<string, string>, RegExp][] = [
      [
        'wrong password',
        { REDISPATCH_NATS_URL: `nats://${USER}:wrong-${PASSWORD}@127.0.0.1:${userPass.port}` },
        /Authorization Violation.*REDISPATCH_NATS_URL/,
      ],
      [
        'no credentials',
        { REDISPATCH_NATS_URL: `nats://127.0.0.1:${userPass.port}` },
        /Authorization Violation/,
      ],
      [
        'wrong token',
        { REDISPATCH_NATS_URL: `nats://${TOKEN}x@127.0.0.1:${token.port}` },
        /Authorization Violation/,
      ],
      [
        'TLS without the CA',
        { REDISPATCH_NATS_URL: `tls://${USER}:${TLS_PASSWORD}@127.0.0.1:${tls.port}` },
        /certificate.*REDISPATCH_NATS_TLS_CA_FILE/,
      ],
    ];
    for (const [what, extra, reason] of attempts) {
      const result = await runCli(['dispatcher'], { ...env, ...extra });
      expect(result.code, what).toBe(1);
      // stderr (the CLI's line) and stdout (pino logs) are separate pipes: their order can differ.
      const last = result.lines.filter((l) => !l.startsWith('{')).at(-1) ?? '';
      expect(last, what).toMatch(/^redispatch: REDISPATCH_NATS_URL: cannot connect to 127\.0\.0\.1:\d+: /);
      expect(last, what).toMatch(reason);
      // Only the final line is the error; anything before it is a JSON log line.
      for (const line of result.lines.slice(0, -1)) expect(line.startsWith('{'), what).toBe(true);
      expectNoSecret(result.output);
      expect(result.output).not.toContain(`${TOKEN}x`);
    }
  });
});
