import { fileURLToPath } from 'node:url';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, runCli, spawnCli } from '../../dispatcher/test/helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../../dispatcher/test/helpers/in-process.js';

// A failing handler is visible in the worker's own log (not only in `dlq list`): a warn line per
// failure with id, attempt and error, an error line when the message is dead-lettered, and no more
// than a bounded number of lines per second in a poison storm, the rest counted in a summary line.
const FAILING = fileURLToPath(new URL('./fixtures/failing-handler.mjs', import.meta.url));

let server: RedisHandle;
const processes: CliProcess[] = [];
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await server.stop();
});

type LogLine = Record<string, unknown> & { level: number; msg: string };

/** The worker's JSON log lines. */
function logLines(proc: CliProcess): LogLine[] {
  return proc
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

const WARN = 40;
const ERROR = 50;

async function startPair(name: string, extra: Record<string, string>, workerArgs: string[] = []) {
  const env = testEnv(server.url, uniquePrefix(name), extra);
  const dispatcher = spawnCli(['dispatcher'], env);
  const worker = spawnCli(['worker', '--handler', FAILING, ...workerArgs], env);
  processes.push(dispatcher, worker);
  await worker.waitForLog(/worker registered/);
  await dispatcher.waitForLog(/"msg":"elected leader"/);
  return { env, worker };
}

describe('the worker logs handler failures', () => {
  const modes: [string, Record<string, string>, string[]][] = [
    ['lists', {}, []],
    ['streams', { REDISPATCH_MODE: 'streams', REDISPATCH_PARTITIONS: '2' }, []],
    ['lists --isolate', {}, ['--isolate', 'true', '--isolate-pool', '1']],
  ];
  for (const [name, extra, workerArgs] of modes) {
    it(`${name}: warns with id, attempt and error (message and stack) per failure, errors when dead-lettering`, async () => {
      const { env, worker } = await startPair(
        `fail-${name.replace(/\W+/g, '-')}`,
        { ...extra, REDISPATCH_MAX_ATTEMPTS: '2' },
        workerArgs,
      );
      const publish = await runCli(['publish', '--count', '1', '--size', '20', '--run-id', 'bad'], env);
      expect(publish.code, publish.output).toBe(0);
      await expect
        .poll(() => logLines(worker).filter((line) => line.level === ERROR).length, { timeout: 15_000 })
        .toBe(1);
      const failures = logLines(worker).filter((line) => line.msg === 'handler failed');
      expect(failures.map((line) => [line.level, line.attempt])).toEqual([
        [WARN, 1],
        [WARN, 2],
      ]);
      const [first] = failures;
      const err = first?.err as { message: string; stack: string; type: string };
      expect(first?.id).toEqual(expect.any(String));
      expect(err.message).toMatch(/^cannot handle bad:0:/);
      expect(err.stack).toMatch(/throwFor .*failing-handler\.mjs/);
      const dead = logLines(worker).find((line) => line.level === ERROR);
      expect(dead).toMatchObject({
        msg: 'dead-lettering: the handler failed on its last attempt',
        id: first?.id,
        attempt: 2,
        maxAttempts: 2,
        reason: expect.stringMatching(/^Error: cannot handle bad:0:/),
      });
      // The same reason `dlq list` shows.
      const list = await runCli(['dlq', 'list'], env);
      expect(list.output).toContain(first?.id as string);
    });
  }

  it('rate-limits a poison storm: a bounded number of lines, the rest counted in a summary line', async () => {
    const COUNT = 300;
    const { env, worker } = await startPair('storm', { REDISPATCH_MAX_ATTEMPTS: '1' });
    const publish = await runCli(
      ['publish', '--count', String(COUNT), '--size', '20', '--run-id', 'storm'],
      env,
    );
    expect(publish.code, publish.output).toBe(0);
    const logged = () => logLines(worker).filter((line) => line.msg === 'handler failed').length;
    const summaries = () =>
      logLines(worker).filter((line) =>
        /^suppressed \d+ handler failures in the last [\d.]+s$/.test(line.msg),
      );
    const suppressed = () => summaries().reduce((sum, line) => sum + Number(line.suppressed), 0);
    // Every failure is either a line of its own or counted in a summary, once the last window closed.
    await expect.poll(() => logged() + suppressed(), { timeout: 20_000 }).toBe(COUNT);
    expect(summaries().length).toBeGreaterThan(0);
    expect(summaries().every((line) => line.level === WARN)).toBe(true);
    // (The per-window bound itself is worker/test/failure-log.test.ts's.) Dead-letter lines are limited the same way.
    const deadLettered = () => {
      const lines = logLines(worker).filter((line) => line.level === ERROR);
      const single = lines.filter((line) => line.msg.startsWith('dead-lettering')).length;
      const counted = lines
        .filter((line) => /^suppressed \d+ dead-letter lines/.test(line.msg))
        .reduce((sum, line) => sum + Number(line.suppressed), 0);
      return { single, counted };
    };
    await expect.poll(() => deadLettered().single + deadLettered().counted, { timeout: 5_000 }).toBe(COUNT);
    expect(deadLettered().counted).toBeGreaterThan(0);
  });
});
