import { describe, expect, it } from 'vitest';
import { LogBudget } from '../src/failure-log.js';

describe('LogBudget', () => {
  it('lets through at most its lines per window and counts the rest for one summary', () => {
    const summaries: number[] = [];
    // A window far longer than this synchronous loop, so every take falls in the first one.
    const budget = new LogBudget(10, 60_000, (suppressed) => summaries.push(suppressed));
    const allowed = Array.from({ length: 100 }, () => budget.take()).filter(Boolean).length;
    expect(allowed).toBe(10);
    expect(summaries).toEqual([]);
    budget.flush();
    expect(summaries).toEqual([90]);
    // Nothing new suppressed: no second summary.
    budget.flush();
    expect(summaries).toEqual([90]);
  });

  it('starts a new window once the last one ended, summarising what it suppressed first', async () => {
    const summaries: number[] = [];
    const budget = new LogBudget(1, 20, (suppressed) => summaries.push(suppressed));
    expect([budget.take(), budget.take(), budget.take()]).toEqual([true, false, false]);
    // The window's timer writes the summary even when no further line arrives.
    await expect.poll(() => summaries).toEqual([2]);
    await expect.poll(() => budget.take()).toBe(true);
  });
});
