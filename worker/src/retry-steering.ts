import { scripts } from '@redispatch/shared';
import { nackReason } from './delivered-message.js';

/**
 * What a handler's error asks of its retry: `dead-letter` now (an error named UnrecoverableError),
 * `retry-after` exactly `delayMs` (a numeric `retryAfterMs` property), or the worker's `backoff`.
 */
export type RetryPlan =
  | { kind: 'dead-letter'; text: string; withStack: string }
  | { kind: 'retry-after'; delayMs: number; text: string; withStack: string }
  | { kind: 'backoff'; text: string; withStack: string };

/** Longest `retryAfterMs` honoured (a day); larger values are capped, so a typo cannot park a message for years. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

export function retryPlan(error: unknown): RetryPlan {
  if (error instanceof Error && error.name === 'UnrecoverableError') {
    // The reason is the message alone (no "UnrecoverableError:" and no attempt count): the handler's words.
    const text = error.message.slice(0, 1_000).replaceAll('\0', '');
    const { withStack } = nackReason(error);
    const cut = withStack.indexOf('\0');
    return { kind: 'dead-letter', text, withStack: text + (cut >= 0 ? withStack.slice(cut) : '') };
  }
  const { text, withStack } = nackReason(error);
  const after = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  if (typeof after === 'number' && Number.isFinite(after) && after >= 0)
    return { kind: 'retry-after', delayMs: Math.min(Math.round(after), MAX_RETRY_AFTER_MS), text, withStack };
  return { kind: 'backoff', text, withStack };
}

/** The nack delay a plan asks for (`backoff` computes the worker's own). */
export function nackDelay(plan: RetryPlan, backoff: () => number): number {
  if (plan.kind === 'dead-letter') return scripts.DEAD_LETTER_NOW;
  if (plan.kind === 'retry-after') return plan.delayMs;
  return backoff();
}

/** Exponential backoff with full jitter in the upper half, so retries of a burst spread out. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
