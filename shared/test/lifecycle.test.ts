import { createLogger, NextTurnFlusher, runCloseSteps } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';

const log = createLogger('silent');

describe('runCloseSteps', () => {
  it('runs every step in order; a failing step is named and the rest still run', async () => {
    const ran: string[] = [];
    const outcome = await runCloseSteps(
      [
        ['a', () => ran.push('a')],
        [
          'b',
          async () => {
            ran.push('b');
            throw new Error('boom');
          },
        ],
        ['c', async () => ran.push('c')],
      ],
      { log },
    );
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(outcome).toEqual({ kind: 'incomplete', failed: ['b'], timedOut: [] });
  });

  it('a step that never settles is left behind once the budget is spent, and the next runs', async () => {
    const ran: string[] = [];
    const started = Date.now();
    const outcome = await runCloseSteps(
      [
        ['hang', () => new Promise(() => undefined)],
        ['after', () => ran.push('after')],
      ],
      { log, budgetMs: 200 },
    );
    expect(ran).toEqual(['after']);
    expect(outcome).toEqual({ kind: 'incomplete', failed: [], timedOut: ['hang'] });
    // Bounded by the budget, not by the hung step (generous: a busy box).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('clean when every step finishes', async () => {
    expect(await runCloseSteps([['x', async () => undefined]], { log, budgetMs: 1_000 })).toEqual({
      kind: 'clean',
    });
  });
});

describe('NextTurnFlusher', () => {
  it('coalesces requests of one turn into one flush, and flushes again for work that came during it', async () => {
    let pending: number[] = [];
    const writes: number[][] = [];
    let release: () => void = () => undefined;
    const flusher = new NextTurnFlusher(
      async () => {
        const batch = pending;
        pending = [];
        writes.push(batch);
        if (writes.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      () => pending.length > 0,
    );
    for (const n of [1, 2, 3]) {
      pending.push(n);
      flusher.request();
    }
    expect(flusher.state).toBe('scheduled');
    await expect.poll(() => flusher.state).toBe('flushing');
    // Arrives while the first write is in flight: waits for the next one.
    pending.push(4);
    flusher.request();
    expect(writes).toEqual([[1, 2, 3]]);
    release();
    await flusher.idle(5_000);
    expect(writes).toEqual([[1, 2, 3], [4]]);
    expect(flusher.state).toBe('idle');
  });
});
