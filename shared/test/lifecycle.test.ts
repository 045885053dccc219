import { createLogger, runCloseSteps } from '@redispatch/shared';
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
