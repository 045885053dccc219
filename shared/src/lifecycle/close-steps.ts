import type { Logger } from '../logger.js';

/** One step of a shutdown: a name for the log, and the work (sync or async). */
export type CloseStep = readonly [name: string, run: () => unknown];

/** How a shutdown ended: every step finished, or some failed or ran out of time (named). */
export type CloseOutcome =
  | { readonly kind: 'clean' }
  | { readonly kind: 'incomplete'; readonly failed: readonly string[]; readonly timedOut: readonly string[] };

export interface CloseStepsOptions {
  log: Logger;
  /**
   * The whole shutdown's budget, ms from the first step (guarantee 9: every stop is bounded). A step
   * still running when the budget is spent is left behind (logged) and the next one starts at once,
   * so a hung connection cannot keep a process from exiting. Undefined: no budget.
   */
  budgetMs?: number | undefined;
}

/**
 * Runs shutdown steps in order, each guarded: a step that throws or runs out of time is logged and
 * the rest still run (stop intake, finish in-flight work, release leadership, quit connections — a
 * failure of one must not skip the others). Shared by every service's `close()`.
 */
export async function runCloseSteps(
  steps: readonly CloseStep[],
  options: CloseStepsOptions,
): Promise<CloseOutcome> {
  const { log, budgetMs } = options;
  const deadline = budgetMs === undefined ? undefined : Date.now() + budgetMs;
  const failed: string[] = [];
  const timedOut: string[] = [];
  for (const [name, run] of steps) {
    const left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    try {
      const finished = await withinBudget(Promise.resolve().then(run), left);
      if (!finished) {
        timedOut.push(name);
        log.warn({ step: name, budgetMs }, 'shutdown step ran out of time; continuing');
      }
    } catch (error) {
      failed.push(name);
      log.warn({ err: error, step: name }, 'shutdown step failed; continuing');
    }
  }
  return failed.length + timedOut.length === 0 ? { kind: 'clean' } : { kind: 'incomplete', failed, timedOut };
}

/** Resolves true when `work` settles within `ms` (rejecting if it rejects), false when time ran out. */
async function withinBudget(work: Promise<unknown>, ms: number | undefined): Promise<boolean> {
  if (ms === undefined) {
    await work;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), outOfTime]);
  } finally {
    clearTimeout(timer);
  }
}
