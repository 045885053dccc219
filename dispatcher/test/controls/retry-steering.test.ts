import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { MODES, startControlsStack, waitForEvent } from './controls-stack.js';

// Errors that steer retries, with real dispatcher and worker processes in both modes.
const fixture = useProcessFixture();

interface DeadLetterJson {
  id: string;
  reason: string;
  attempts: number;
}

async function deadLetters(env: Record<string, string>): Promise<DeadLetterJson[]> {
  const { code, lines, output } = await runCli(['dlq', 'list', '--json'], env);
  expect(code, output).toBe(0);
  return lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as DeadLetterJson);
}

describe.each(MODES)('errors that steer retries (%s mode)', (mode) => {
  it('an error named UnrecoverableError dead-letters after one attempt, its message the reason', async () => {
    const stack = await startControlsStack(fixture, mode, { REDISPATCH_MAX_ATTEMPTS: '5' });
    await stack.publish('unrecoverable');
    const [start] = await waitForEvent(stack, 'unrecoverable', 'start');
    await expect.poll(async () => (await deadLetters(stack.env)).length, { timeout: 15_000 }).toBe(1);
    const [dead] = await deadLetters(stack.env);
    expect(dead?.id).toBe(start?.id);
    expect(dead?.reason).toBe('bad input: cannot be processed');
    expect(dead?.attempts).toBe(1);
    expect(stack.eventsFor('unrecoverable').filter((e) => e.event === 'start')).toHaveLength(1);
  }, 60_000);

  it('an error with retryAfterMs is retried after that delay, not the backoff', async () => {
    // The backoff would wait 15-30 s; retryAfterMs asks for 3 s.
    const stack = await startControlsStack(fixture, mode, {
      REDISPATCH_BACKOFF_BASE_MS: '30000',
      REDISPATCH_BACKOFF_MAX_MS: '30000',
    });
    await stack.publish('retry-after:3000');
    const [failed] = await waitForEvent(stack, 'retry-after:3000', 'fail');
    const [retry] = (await waitForEvent(stack, 'retry-after:3000', 'start', 2, 30_000)).slice(1);
    expect(retry?.attempt).toBe(2);
    const waited = (retry?.at ?? 0) - (failed?.at ?? 0);
    // Never before the delay (both clocks are this host's); well before the shortest backoff.
    expect(waited).toBeGreaterThanOrEqual(3_000);
    expect(waited).toBeLessThan(14_000);
    await waitForEvent(stack, 'retry-after:3000', 'done');
  }, 60_000);
});

describe('isolated handlers (--isolate, lists mode)', () => {
  it('msg.extend, UnrecoverableError and retryAfterMs travel through the handler process', async () => {
    const stack = await startControlsStack(fixture, 'lists', {
      REDISPATCH_ISOLATE: 'true',
      REDISPATCH_BACKOFF_BASE_MS: '30000',
      REDISPATCH_BACKOFF_MAX_MS: '30000',
    });
    for (const body of ['extend:4', 'unrecoverable', 'retry-after:2500']) await stack.publish(body);
    await waitForEvent(stack, 'extend:4', 'done', 1, 30_000);
    const extend = stack.eventsFor('extend:4');
    expect(extend.filter((e) => e.event === 'start').map((e) => e.attempt)).toEqual([1]);
    expect(extend.filter((e) => e.event === 'extend').map((e) => e.extended)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    await expect.poll(async () => (await deadLetters(stack.env)).length, { timeout: 15_000 }).toBe(1);
    expect((await deadLetters(stack.env))[0]).toMatchObject({
      reason: 'bad input: cannot be processed',
      attempts: 1,
    });
    const [failed] = await waitForEvent(stack, 'retry-after:2500', 'fail');
    const [retry] = (await waitForEvent(stack, 'retry-after:2500', 'start', 2, 30_000)).slice(1);
    const waited = (retry?.at ?? 0) - (failed?.at ?? 0);
    expect(waited).toBeGreaterThanOrEqual(2_500);
    expect(waited).toBeLessThan(14_000);
  }, 60_000);
});
