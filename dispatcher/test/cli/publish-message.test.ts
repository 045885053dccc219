import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Message, Worker } from '@redispatch/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

const fx = useProcessFixture();
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
});

/** A dispatcher process and a worker recording what its handler is given. */
async function deployment(name: string) {
  const prefix = uniquePrefix(name);
  const env = testEnv(fx.redis.url, prefix);
  const dispatcher = fx.spawn(['dispatcher'], env);
  const received: Message[] = [];
  const worker = new Worker({
    redisUrl: fx.redis.url,
    prefix,
    id: 'w1',
    ackTimeoutMs: 2_000,
    handler: async (msg) => {
      received.push(msg);
    },
  });
  workers.push(worker);
  await worker.start();
  await dispatcher.waitForLog(/leading|elected/);
  await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 }).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { env, received };
}

describe('redispatch publish sends real messages', () => {
  it('one message by hand: body, message id, attempts, TTL, timeout and priority reach the handler', async () => {
    const { env, received } = await deployment('pub-one');
    const before = Date.now();
    const one = await runCli(
      ['publish', '--count', '1', '--body', 'hello ✓', '--message-id', 'order-17', '--attempts', '2'].concat([
        '--ttl',
        '60000',
        '--timeout',
        '5000',
        '--priority',
        '7',
      ]),
      env,
    );
    expect(one.code, one.output).toBe(0);
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(1);
    const [msg] = received;
    expect(msg?.body.toString()).toBe('hello ✓');
    expect(msg?.header).toMatchObject({ id: 'order-17', attempts: 2, timeoutMs: 5_000, priority: 7 });
    expect(msg?.header?.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(msg?.header?.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);

    // The same id again is deduplicated; a binary file (first byte 0xFE) arrives byte for byte.
    await runCli(['publish', '--count', '1', '--body', 'again', '--message-id', 'order-17'], env);
    const file = join(fx.tempDir('body'), 'body.bin');
    const bytes = Buffer.from([0xfe, 0x00, 0xff, 0x0a, 0x61]);
    writeFileSync(file, bytes);
    const binary = await runCli(['publish', '--count', '2', '--body-file', file, '--no-timestamp'], env);
    expect(binary.code, binary.output).toBe(0);
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(3);
    expect(received.slice(1).map((m) => m.body)).toEqual([bytes, bytes]);
    expect(received.some((m) => m.body.toString() === 'again')).toBe(false);
  });

  it('--namespace: the same message id in two namespaces is delivered twice, again in one is not', async () => {
    const { env, received } = await deployment('pub-ns');
    const send = (body: string, namespace: string) =>
      runCli(
        ['publish', '--count', '1', '--body', body, '--message-id', 'order-42', '--namespace', namespace],
        env,
      );
    for (const [body, namespace] of [
      ['a1', 'tenant-a'],
      ['b1', 'tenant-b'],
      ['a2', 'tenant-a'],
    ] as const) {
      const sent = await send(body, namespace);
      expect(sent.code, sent.output).toBe(0);
    }
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received.map((m) => `${m.header?.namespace}:${m.body}`).sort()).toEqual([
      'tenant-a:a1',
      'tenant-b:b1',
    ]);
  });

  it('a message whose TTL ends while it is delayed is dead-lettered "expired", visible in dlq list', async () => {
    const { env, received } = await deployment('pub-ttl');
    const sent = await runCli(
      ['publish', '--count', '1', '--body', 'late', '--ttl', '1', '--delay', '400'],
      env,
    );
    expect(sent.code, sent.output).toBe(0);
    await expect
      .poll(async () => (await runCli(['dlq', 'list'], env)).output, { timeout: 10_000 })
      .toMatch(/reason="expired"/);
    expect(received).toEqual([]);
  });

  it.each<[string, string[], RegExp]>([
    [
      'attempts 0',
      ['--attempts', '0'],
      /^redispatch: --attempts expects a whole number from 1 to 255 \(got "0"\)/m,
    ],
    [
      'priority 10',
      ['--priority', '10'],
      /^redispatch: --priority expects a whole number from 0 to 9 \(got "10"\)/m,
    ],
    ['a TTL that is not a number', ['--ttl', 'soon'], /^redispatch: --ttl expects a whole number from 1 to/m],
    ['timeout 0', ['--timeout', '0'], /^redispatch: --timeout expects a whole number from 1 to 4294967295/m],
    [
      'both body flags',
      ['--body', 'a', '--body-file', 'x'],
      /^redispatch: --body and --body-file: give one/m,
    ],
    [
      'a missing body file',
      ['--body-file', '/nonexistent/body'],
      /^redispatch: --body-file: cannot read "\/nonexistent\/body"/m,
    ],
    [
      'an empty namespace',
      ['--namespace', ''],
      /^redispatch: --namespace expects 1..64 UTF-8 bytes \(got 0\)/m,
    ],
    [
      'a message id on many copies',
      ['--message-id', 'm', '--count', '2'],
      /^redispatch: --message-id needs --count 1/m,
    ],
  ])('refuses %s with one line naming the flag', async (_name, flags, message) => {
    const env = testEnv(fx.redis.url, uniquePrefix('pub-bad'));
    const count = flags.includes('--count') ? [] : ['--count', '1'];
    const result = await runCli(['publish', ...count, ...flags], env);
    expect(result.code).not.toBe(0);
    expect(result.lines).toHaveLength(1);
    expect(result.output).toMatch(message);
  });
});
