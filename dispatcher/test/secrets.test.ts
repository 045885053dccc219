import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createLogger, loadConfig } from '@redispatch/shared';
import { type NatsHandle, type RedisHandle, startNatsServer, startRedisProcess } from '@redispatch/testing';
import { Worker } from '@redispatch/worker';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dispatcher } from '../src/dispatcher.js';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { probe } from './helpers/metrics-probe.js';

// Distinctive random secrets in every URL kind; every byte any process prints, and every metrics
// answer, is captured and searched for them.
const random = () => Math.random().toString(36).slice(2, 12);
const DATA_PASSWORD = `Sd-${random()}`;
const LOCK_PASSWORD = `Sl-${random()}`;
const NATS_PASSWORD = `Sn-${random()}`;
const WRONG_PASSWORD = `Sw-${random()}`;
const SECRETS = [DATA_PASSWORD, LOCK_PASSWORD, NATS_PASSWORD, WRONG_PASSWORD];

let dir = '';
let data: RedisHandle;
let lock: RedisHandle;
let nats: NatsHandle;
const processes: CliProcess[] = [];
/** Everything captured: [what, text]. */
const captured: [string, string][] = [];

function start(args: string[], env: Record<string, string>): CliProcess {
  const proc = spawnCli(args, { CLI_LOG_LEVEL: 'trace', ...env });
  processes.push(proc);
  return proc;
}

async function run(what: string, args: string[], env: Record<string, string>) {
  const result = await runCli(args, { CLI_LOG_LEVEL: 'trace', ...env });
  captured.push([what, result.output]);
  return result;
}

function expectNoSecret(what: string, text: string): void {
  for (const secret of SECRETS) expect(text.includes(secret), `${what} printed a secret`).toBe(false);
}

async function metricsPort(proc: CliProcess): Promise<number> {
  await proc.waitForLog(/"msg":"metrics server listening"/);
  const match = /"port":(\d+)[^\n]*"msg":"metrics server listening"/.exec(proc.output());
  return Number(match?.[1]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-secrets-'));
  [data, lock, nats] = await Promise.all([
    startRedisProcess({ args: ['--requirepass', DATA_PASSWORD] }),
    startRedisProcess({ args: ['--requirepass', LOCK_PASSWORD] }),
    startNatsServer({ args: ['--user', 'nat', '--pass', NATS_PASSWORD] }),
  ]);
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await Promise.all([data?.stop(), lock?.stop(), nats?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const dataUrl = (password = DATA_PASSWORD) => `redis://:${password}@127.0.0.1:${data.port}`;
const lockUrl = (password = LOCK_PASSWORD) => `redis://default:${password}@127.0.0.1:${lock.port}`;
const natsUrl = (password = NATS_PASSWORD) => `nats://nat:${password}@127.0.0.1:${nats.port}`;

describe('secrets never appear in output, errors or metrics', () => {
  it('keeps them out of a running system: dispatcher, worker, publish, stats, dlq and /metrics', async () => {
    const prefix = uniquePrefix('secrets');
    const checkDir = mkdtempSync(join(dir, 'check-'));
    const env = {
      ...testEnv(dataUrl(), prefix),
      CHECK_DIR: checkDir,
      REDISPATCH_LOCK_URLS: lockUrl(),
      REDISPATCH_INGRESS: 'nats',
      REDISPATCH_NATS_URL: natsUrl(),
      REDISPATCH_NATS_SUBJECT: `${prefix}.in`,
      REDISPATCH_MAX_PAYLOAD_BYTES: '200',
    };
    const served = { ...env, REDISPATCH_METRICS_PORT: '0', REDISPATCH_METRICS_HOST: '127.0.0.1' };
    const dispatcher = start(['dispatcher'], served);
    const worker = start(['worker', '--handler', CHECKER_HANDLER], served);
    const ports = await Promise.all([metricsPort(dispatcher), metricsPort(worker)]);
    await Promise.all([
      dispatcher.waitForLog(/"msg":"elected leader"/),
      worker.waitForLog(/worker registered/),
    ]);
    await run('publish', ['publish', '--count', '100', '--size', '50', '--run-id', 'sec'], env);
    await run('publish oversize', ['publish', '--count', '2', '--size', '300', '--run-id', 'big'], env);
    await expect.poll(() => checkRun(checkDir, 'sec', 100).lost, { timeout: 15_000 }).toBe(0);

    for (const port of ports) {
      for (const path of ['/metrics', '/readyz', '/healthz']) {
        const answer = await probe(port, path);
        expect(answer.status, path).toBe(200);
        captured.push([`${path} on ${port}`, answer.body]);
      }
    }
    await expect
      .poll(async () => JSON.parse((await runCli(['stats', '--json'], env)).output).deadLetters, {
        timeout: 5_000,
      })
      .toBe(2);
    expect((await run('stats', ['stats'], env)).code).toBe(0);
    expect((await run('stats --json', ['stats', '--json'], env)).code).toBe(0);
    const list = await run('dlq list', ['dlq', 'list'], env);
    expect(list.lines.filter((line) => line.includes('reason="oversize'))).toHaveLength(2);
    expect((await run('dlq list --json', ['dlq', 'list', '--json'], env)).code).toBe(0);

    dispatcher.kill('SIGTERM');
    worker.kill('SIGTERM');
    await Promise.all([dispatcher.exited(), worker.exited()]);
    captured.push(['dispatcher', dispatcher.output()], ['worker', worker.output()]);
    // The logs did say something about the connections (so the search below had text to search).
    expect(dispatcher.output()).toMatch(/"msg":"elected leader"/);
    for (const [what, text] of captured) expectNoSecret(what, text);
  });

  it('keeps them out of failing connections: wrong passwords, unreachable hosts, a wrong lock or NATS password', async () => {
    const env = testEnv(dataUrl(), uniquePrefix('secfail'), { REDISPATCH_LOCK_URLS: lockUrl() });
    const failures: [string, string[], Record<string, string>][] = [
      ['stats, wrong password', ['stats'], { REDISPATCH_REDIS_URL: dataUrl(WRONG_PASSWORD) }],
      [
        'stats, unreachable',
        ['stats', '--json'],
        { REDISPATCH_REDIS_URL: `redis://:${DATA_PASSWORD}@127.0.0.1:1` },
      ],
      ['dlq list, wrong password', ['dlq', 'list'], { REDISPATCH_REDIS_URL: dataUrl(WRONG_PASSWORD) }],
      [
        'worker, wrong user and password',
        ['worker', '--handler', CHECKER_HANDLER],
        { REDISPATCH_REDIS_URL: `redis://nobody:${WRONG_PASSWORD}@127.0.0.1:${data.port}` },
      ],
      ['dispatcher, wrong password', ['dispatcher'], { REDISPATCH_REDIS_URL: dataUrl(WRONG_PASSWORD) }],
      [
        'dispatcher, wrong NATS password',
        ['dispatcher'],
        { REDISPATCH_INGRESS: 'nats', REDISPATCH_NATS_URL: natsUrl(WRONG_PASSWORD) },
      ],
      [
        'publish, wrong NATS password',
        ['publish', '--count', '1'],
        { REDISPATCH_INGRESS: 'nats', REDISPATCH_NATS_URL: natsUrl(WRONG_PASSWORD) },
      ],
    ];
    for (const [what, args, extra] of failures) {
      const result = await run(what, args, { ...env, ...extra });
      expect(result.code, what).toBe(1);
      // stdout (pino logs) and stderr (the error) are separate pipes, so their order can differ:
      // the one line the CLI prints itself is the error.
      const printed = result.lines.filter((line) => !line.startsWith('{'));
      expect(printed, what).toHaveLength(1);
      expect(printed[0], what).toMatch(/^redispatch: REDISPATCH_(REDIS|NATS)_URL: cannot connect to /);
      expectNoSecret(what, result.output);
    }
    // A dispatcher whose lock master refuses its password stays up as a standby and says why, redacted.
    const standby = start(['dispatcher'], { ...env, REDISPATCH_LOCK_URLS: lockUrl(WRONG_PASSWORD) });
    await standby.waitForLog(/"msg":"lease acquisition failed"/);
    expect(standby.output()).toMatch(
      /REDISPATCH_LOCK_URLS entry 1 redis:\/\/default:\*\*\*@127\.0\.0\.1:\d+\/?: WRONGPASS/,
    );
    standby.kill('SIGTERM');
    await standby.exited();
    expectNoSecret('dispatcher, wrong lock password', standby.output());
  });

  it('keeps them out of configuration errors next to password URLs, from the environment and from flags', async () => {
    const env = {
      ...testEnv(dataUrl(), uniquePrefix('secconf')),
      REDISPATCH_LOCK_URLS: lockUrl(),
      REDISPATCH_NATS_URL: natsUrl(),
    };
    const bad: [string, string[], Record<string, string>][] = [
      ['a bad number next to password URLs', ['dispatcher'], { REDISPATCH_LEASE_MS: 'abc' }],
      ['a bad database', ['stats'], { REDISPATCH_REDIS_URL: `redis://:${DATA_PASSWORD}@127.0.0.1:1/x` }],
      [
        'a bad lock entry',
        ['dispatcher'],
        { REDISPATCH_LOCK_URLS: `${lockUrl()},ftp://:${LOCK_PASSWORD}@h` },
      ],
      ['a bad NATS scheme', ['dispatcher'], { REDISPATCH_NATS_URL: `http://nat:${NATS_PASSWORD}@h:1` }],
      ['a bad port', ['worker', '--redis-url', `redis://:${DATA_PASSWORD}@h:99999`], {}],
      ['a bad flag', ['stats', '--redis-url', `redis://:${DATA_PASSWORD}@h/-1`, '--lease-ms', 'x'], {}],
    ];
    for (const [what, args, extra] of bad) {
      const result = await run(what, args, { ...env, ...extra });
      expect(result.code, what).toBe(2);
      for (const line of result.lines) expect(line, what).toMatch(/^redispatch: REDISPATCH_[A-Z_]+ /);
      expectNoSecret(what, result.output);
    }
    const unknown = await run('an unknown flag', ['stats', '--bogus', `redis://:${DATA_PASSWORD}@h`], env);
    expect(unknown.code).not.toBe(0);
    expectNoSecret('an unknown flag', unknown.output);
  });

  it('keeps them out of errors the library throws, however they are printed or logged', async () => {
    const wrong = `redis://bob:${WRONG_PASSWORD}@127.0.0.1:${data.port}`;
    const worker = new Worker({ redisUrl: wrong, handler: async () => {}, logger: createLogger('silent') });
    const dispatcher = new Dispatcher({
      config: loadConfig(testEnv(wrong, uniquePrefix('seclib'))),
      logger: createLogger('silent'),
      registry: new Registry(),
    });
    for (const service of [worker, dispatcher]) {
      const error = await service.start().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(Error);
      await service.close();
      const renderings = [
        inspect(error, { depth: 20, showHidden: true }),
        JSON.stringify(pino.stdSerializers.err(error as Error)),
        String(error),
      ];
      for (const text of renderings) expectNoSecret('a library error', text);
      expect(renderings[2]).toContain('bob:***@');
    }
  });
});
