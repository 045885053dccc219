import { createKeys, loadPartitions } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { type ControlsStack, MODES, type Mode, startControlsStack, waitForEvent } from './controls-stack.js';

// The results stream (REDISPATCH_RESULTS=stream) and `redispatch results tail`, with real processes
// in both modes.
const fixture = useProcessFixture();

interface ResultJson {
  id: string;
  result: string;
  text?: string;
  partition?: number;
}

/** Every results stream of the stack's deployment: `{prefix}:results`, or one per partition. */
async function resultKeys(stack: ControlsStack, mode: Mode): Promise<string[]> {
  const prefix = stack.env.REDISPATCH_PREFIX;
  const keys = createKeys(prefix);
  if (mode === 'lists') return [keys.results];
  return (await loadPartitions(fixture.admin, keys, prefix, 2)).map((p) => p.results);
}

/** Every entry of the results stream(s) as {id, result}. */
async function resultEntries(stack: ControlsStack, mode: Mode): Promise<{ id: string; result: string }[]> {
  const entries: { id: string; result: string }[] = [];
  for (const key of await resultKeys(stack, mode)) {
    for (const [, fields] of await fixture.admin.xrange(key, '-', '+')) {
      const record = Object.fromEntries(
        fields.flatMap((_v, i) => (i % 2 === 0 ? [[fields[i], fields[i + 1]]] : [])),
      ) as { id: string; result: string };
      entries.push({ id: record.id, result: record.result });
    }
  }
  return entries;
}

describe.each(MODES)('the results stream (%s mode)', (mode) => {
  it('is written with the ack, and a nack writes nothing', async () => {
    const stack = await startControlsStack(fixture, mode, {
      REDISPATCH_RESULTS: 'stream',
      REDISPATCH_MAX_ATTEMPTS: '2',
    });
    for (const body of ['a', 'b', 'fail']) await stack.publish(body);
    await waitForEvent(stack, 'a', 'done');
    await waitForEvent(stack, 'b', 'done');
    // Both attempts of "fail" nacked (the second dead-letters it).
    await waitForEvent(stack, 'fail', 'start', 2, 20_000);
    await expect.poll(async () => (await resultEntries(stack, mode)).length, { timeout: 10_000 }).toBe(2);
    const ids = new Map(stack.events().map((e) => [e.body, e.id]));
    const entries = await resultEntries(stack, mode);
    expect(entries.sort((x, y) => x.result.localeCompare(y.result))).toEqual([
      { id: ids.get('a'), result: '{"echo":"a"}' },
      { id: ids.get('b'), result: '{"echo":"b"}' },
    ]);
    expect(entries.some((e) => e.id === ids.get('fail'))).toBe(false);
  }, 60_000);

  // A stale worker's ack is refused by the settle script (shared/test/controls-scripts.test.ts); its
  // worker does not even send it, as the handler passed its deadline there.
  it('a stale worker writes no result: the attempt that owns the message writes the one result', async () => {
    const stack = await startControlsStack(
      fixture,
      mode,
      { REDISPATCH_RESULTS: 'stream', CONTROLS_BLOCK_MS: '5000' },
      2,
    );
    await stack.publish('stale');
    await waitForEvent(stack, 'stale', 'stale-extend', 1, 30_000);
    const finished = await waitForEvent(stack, 'stale', 'done', 2, 30_000);
    expect(finished.map((e) => e.attempt).sort()).toEqual([1, 2]);
    // Both attempts returned and acked; only the owner's ack (attempt 2) counted.
    await expect.poll(async () => (await resultEntries(stack, mode)).length, { timeout: 10_000 }).toBe(1);
    expect((await resultEntries(stack, mode))[0]?.result).toBe('from attempt 2');
  }, 60_000);

  it('results tail --json prints entries, from the start and as they come', async () => {
    const stack = await startControlsStack(fixture, mode, { REDISPATCH_RESULTS: 'stream' });
    await stack.publish('first');
    await waitForEvent(stack, 'first', 'done');
    await expect.poll(async () => (await resultEntries(stack, mode)).length, { timeout: 10_000 }).toBe(1);
    const fromStart = await runCli(['results', 'tail', '--json', '--from-start', '--count', '1'], stack.env);
    expect(fromStart.code, fromStart.output).toBe(0);
    const [printed] = fromStart.lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as ResultJson);
    expect(printed?.id).toBe(stack.eventsFor('first')[0]?.id);
    expect(printed?.text).toBe('{"echo":"first"}');
    expect(Buffer.from(printed?.result ?? '', 'base64').toString()).toBe('{"echo":"first"}');
    // Following: only what comes after it started.
    const follow = fixture.spawn(['results', 'tail', '--json', '--count', '1'], stack.env);
    await follow.waitForLog(/following 1 results stream|following 2 results streams/);
    await stack.publish('second');
    const { code } = await follow.exited();
    expect(code, follow.output()).toBe(0);
    const followed = follow
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as ResultJson);
    expect(followed.map((e) => e.text)).toEqual(['{"echo":"second"}']);
    if (mode === 'streams') expect(typeof followed[0]?.partition).toBe('number');
  }, 60_000);
});
