import { describe, expect, it } from 'vitest';
import { SettleLoop, type SettleLoopState } from '../src/settle-loop.js';

/** A settler in miniature: numbers pending, a write per batch that the test releases or fails. */
function numbersLoop() {
  let pending: number[] = [];
  const writes: number[][] = [];
  const outcomes: ((error?: Error) => void)[] = [];
  const seenOnFailure: SettleLoopState[] = [];
  const loop: SettleLoop<number[], void> = new SettleLoop({
    hasPending: () => pending.length > 0,
    take: () => {
      const batch = pending;
      pending = [];
      return batch;
    },
    write: (batch) => {
      writes.push(batch);
      return new Promise<void>((resolve, reject) =>
        outcomes.push((error) => (error ? reject(error) : resolve())),
      );
    },
    settled: () => false,
    failed: (batch) => {
      seenOnFailure.push(loop.state);
      pending.unshift(...batch);
    },
  });
  const add = (n: number) => {
    pending.push(n);
    loop.request();
  };
  const settle = async (index: number, error?: Error) => {
    await expect.poll(() => outcomes.length).toBeGreaterThan(index);
    outcomes[index]?.(error);
  };
  return { loop, writes, add, settle, seenOnFailure };
}

describe('SettleLoop', () => {
  it("writes one turn's work in one write and what comes during it in the next; drain waits for both", async () => {
    const { loop, writes, add, settle } = numbersLoop();
    for (const n of [1, 2, 3]) add(n);
    expect(loop.state).toBe('scheduled');
    await expect.poll(() => loop.state).toBe('writing');
    add(4);
    expect(writes).toEqual([[1, 2, 3]]);
    const drained = loop.drain(30_000).then(() => loop.state);
    await settle(0);
    await settle(1);
    expect(await drained).toBe('idle');
    expect(writes).toEqual([[1, 2, 3], [4]]);
  });

  it('after a failed write, releases the slot before pausing and writes the batch again, first in line', async () => {
    const { loop, writes, add, settle, seenOnFailure } = numbersLoop();
    add(1);
    await expect.poll(() => loop.state).toBe('writing');
    add(2);
    await settle(0, new Error('redis down'));
    // The batch was put back with the loop already idle: a drain (or new work) need not wait out the pause.
    await expect.poll(() => seenOnFailure).toEqual(['idle']);
    const drained = loop.drain(30_000);
    await settle(1);
    await drained;
    expect(writes).toEqual([[1], [1, 2]]);
  });
});
