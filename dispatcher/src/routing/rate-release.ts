/**
 * How often a leader draws from the rate limit's bucket: when the next token is due, but no more often
 * than every MIN_RELEASE_MS (a few tokens per call at high rates, not one script call per message).
 */
export const MIN_RELEASE_MS = 20;

/** What one release pass did and when the next should run. */
export interface ReleaseResult {
  released: number;
  nextMs: number;
}

/** Milliseconds until the next pass from the bucket's answer. */
export function nextReleaseMs(waitMs: number, moreWaiting: boolean): number {
  // Nothing waiting: look again soon (new arrivals wait in Redis until then; tokens keep accruing).
  if (!moreWaiting) return IDLE_RELEASE_MS;
  return Math.max(MIN_RELEASE_MS, waitMs);
}

/** Between passes while nothing waits for tokens (or while paused). */
export const IDLE_RELEASE_MS = 50;
