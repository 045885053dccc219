import { describe, expect, it } from 'vitest';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { MODES, sleep, startControlsStack, waitForEvent } from './controls-stack.js';

// msg.extend, auto-extension and the handler timeout, with real dispatcher and worker processes on a
// real redis-server, in both modes (streams on the same server). The ack timeout is 2 s throughout.
const fixture = useProcessFixture();

describe.each(MODES)('claim extension (%s mode)', (mode) => {
  it('a 6 s handler that extends its 2 s claim is handled once and never redelivered', async () => {
    const stack = await startControlsStack(fixture, mode, {}, 2);
    await stack.publish('extend:6');
    await waitForEvent(stack, 'extend:6', 'done', 1, 30_000);
    // One more ack timeout and a reap after the ack: a redelivery would have started by now.
    await sleep(3_000);
    const events = stack.eventsFor('extend:6');
    expect(events.filter((e) => e.event === 'start').map((e) => e.attempt)).toEqual([1]);
    const answers = events.filter((e) => e.event === 'extend').map((e) => e.extended);
    expect(answers).toEqual([true, true, true, true, true, true]);
  }, 60_000);

  it("a stale worker's extend returns false, and the attempt that owns the message finishes it", async () => {
    // Frozen 2.5 ack timeouts: its claim expires and another worker takes the message meanwhile.
    const stack = await startControlsStack(fixture, mode, { CONTROLS_BLOCK_MS: '5000' }, 2);
    await stack.publish('stale');
    const [stale] = await waitForEvent(stack, 'stale', 'stale-extend', 1, 30_000);
    expect(stale?.attempt).toBe(1);
    expect(stale?.extended).toBe(false);
    // The stale extend came while the later attempt held the message: it kept extending, and finished.
    const heldOn = () =>
      stack.eventsFor('stale').some((e) => e.event === 'extend' && e.extended && e.at > (stale?.at ?? 0));
    await expect.poll(heldOn, { timeout: 10_000 }).toBe(true);
    // The stale attempt returns too (its ack is stale); the later one finishes the message.
    const done = await waitForEvent(stack, 'stale', 'done', 2, 30_000);
    expect(done.map((e) => e.attempt).sort()).toEqual([1, 2]);
  }, 60_000);

  it('auto-extension keeps a 6 s handler that never extends from being redelivered', async () => {
    const stack = await startControlsStack(fixture, mode, { REDISPATCH_AUTO_EXTEND: 'true' }, 2);
    await stack.publish('sleep:6000');
    await waitForEvent(stack, 'sleep:6000', 'done', 1, 30_000);
    await sleep(3_000);
    const starts = stack.eventsFor('sleep:6000').filter((e) => e.event === 'start');
    expect(starts.map((e) => e.attempt)).toEqual([1]);
  }, 60_000);

  it('past the handler timeout, auto-extension stops: msg.signal aborts and the message is redelivered', async () => {
    const stack = await startControlsStack(fixture, mode, {
      REDISPATCH_AUTO_EXTEND: 'true',
      REDISPATCH_HANDLER_TIMEOUT_MS: '5000',
      REDISPATCH_MAX_ATTEMPTS: '2',
    });
    await stack.publish('hang');
    const [aborted] = await waitForEvent(stack, 'hang', 'aborted', 1, 30_000);
    expect(aborted?.attempt).toBe(1);
    expect(aborted?.reason).toMatch(/HandlerTimeoutError: handler did not finish within 5000 ms/);
    const starts = await waitForEvent(stack, 'hang', 'start', 2, 30_000);
    const [first, second] = starts;
    expect(second?.attempt).toBe(2);
    // Extended past the 2 s ack timeout: the second attempt came only after the first was aborted.
    expect(second?.at).toBeGreaterThanOrEqual(aborted?.at ?? Number.POSITIVE_INFINITY);
    expect((aborted?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(4_900);
  }, 60_000);
});
