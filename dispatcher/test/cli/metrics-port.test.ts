import { createServer, type Server } from 'node:net';
import type { Stats } from '@redispatch/shared';
import { freePort } from '@redispatch/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKER_HANDLER, runCli } from '../helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

const fx = useProcessFixture();
const blockers: Server[] = [];
afterAll(async () => {
  await Promise.all(blockers.map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Holds a loopback port, as another program on the host would. */
async function takePort(): Promise<number> {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  blockers.push(server);
  return port;
}

async function statsJson(env: Record<string, string>): Promise<Stats> {
  const result = await runCli(['stats', '--json'], env);
  expect(result.code).toBe(0);
  return JSON.parse(result.output) as Stats;
}

describe('metrics ports of many processes on one host', () => {
  it('with no port set, every process comes up on its own port and stats shows where', async () => {
    const prefix = uniquePrefix('ports');
    // REDISPATCH_METRICS_PORT empty = not set (the default); bound to loopback only.
    const env = testEnv(fx.redis.url, prefix, {
      REDISPATCH_METRICS_PORT: '',
      REDISPATCH_METRICS_HOST: '127.0.0.1',
      REDISPATCH_LOG_LEVEL: 'info',
    });
    const dispatchers = [1, 2, 3].map(() => fx.spawn(['dispatcher'], env));
    const worker = fx.spawn(['worker', '--handler', CHECKER_HANDLER], env);
    let stats: Stats | undefined;
    await expect
      .poll(
        async () => {
          stats = await statsJson(env);
          return stats.processes.filter((p) => p.metrics !== null).map((p) => p.role);
        },
        { timeout: 20_000, interval: 250 },
      )
      .toEqual(['dispatcher', 'dispatcher', 'dispatcher', 'worker']);
    const addresses = stats?.processes.map((p) => p.metrics ?? '') ?? [];
    expect(new Set(addresses).size).toBe(4);
    expect(stats?.processes.map((p) => p.pid).sort()).toEqual(
      [...dispatchers, worker].map((p) => p.pid).sort(),
    );
    // The leader and the worker row carry their own address too (new fields).
    expect(addresses).toContain(stats?.leader?.metrics);
    expect(stats?.workers[0]?.metrics).toBe(stats?.processes.find((p) => p.role === 'worker')?.metrics);
    // Each address really serves that process's metrics.
    for (const address of addresses) {
      const response = await fetch(`http://${address}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('redispatch_');
    }
    // Some process found the default taken (only one can have it) and says which port it chose.
    await expect
      .poll(() =>
        [...dispatchers, worker].some((p) => /on a free port: the default was taken/.test(p.output())),
      )
      .toBe(true);
    const human = await runCli(['stats'], env);
    for (const address of addresses) expect(human.output).toContain(address);
    // A process that stops cleanly takes its entry with it.
    worker.kill('SIGTERM');
    await worker.exited();
    await expect
      .poll(async () => (await statsJson(env)).processes.map((p) => p.role), { timeout: 10_000 })
      .toEqual(['dispatcher', 'dispatcher', 'dispatcher']);
  });

  it('a port set by hand that is taken fails with one line naming the setting', async () => {
    const port = await takePort();
    const env = testEnv(fx.redis.url, uniquePrefix('taken'), {
      REDISPATCH_METRICS_PORT: String(port),
      REDISPATCH_METRICS_HOST: '127.0.0.1',
    });
    const viaEnv = await runCli(['dispatcher'], env);
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.lines).toEqual([
      `redispatch: REDISPATCH_METRICS_PORT (--metrics-port) ${port} is already in use on 127.0.0.1; choose a free port, 0 for any free port, or -1 to disable the metrics server`,
    ]);
    const viaFlag = await runCli(['worker', '--handler', CHECKER_HANDLER, '--metrics-port', String(port)], {
      ...env,
      REDISPATCH_METRICS_PORT: '',
    });
    expect(viaFlag.code).toBe(2);
    expect(viaFlag.lines).toHaveLength(1);
    expect(viaFlag.lines[0]).toContain('REDISPATCH_METRICS_PORT (--metrics-port)');
  });
});
