import type { Logger } from '@redispatch/shared';

/** Lines of one kind a worker writes per window before it counts instead (a poison storm). */
export const FAILURE_LINES_PER_WINDOW = 10;
export const FAILURE_WINDOW_MS = 1_000;

/**
 * At most `perWindow` lines per window; past that, lines are only counted, and one summary line
 * ("suppressed K … in the last Xs") follows when the window ends, so a storm of failing messages
 * costs a bounded number of log lines whatever its rate.
 */
export class LogBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly summarise: (suppressed: number, seconds: number) => void,
  ) {}

  /** True when this line may be written; false when it was counted as suppressed. */
  take(): boolean {
    const now = performance.now();
    if (now - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.perWindow) {
      this.used += 1;
      return true;
    }
    this.suppressed += 1;
    // The summary comes at the window's end even if no further failure arrives to trigger it.
    this.timer ??= setTimeout(() => this.flush(), this.windowStart + this.windowMs - now).unref();
    return false;
  }

  /** Writes the summary of what this window suppressed, if anything (also on close). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    const seconds = Math.max(0.001, (performance.now() - this.windowStart) / 1000);
    this.summarise(this.suppressed, Math.round(seconds * 10) / 10);
    this.suppressed = 0;
  }
}

/** Error fields for a log line: pino's `err` serializer gives type, message and stack. */
function asError(error: unknown): Error | { message: string } {
  return error instanceof Error ? error : { message: String(error) };
}

/**
 * The worker's log of handler outcomes that need a person's attention: a failed (or hung) handler
 * at warn with message id, attempt and error, and a message dead-lettered after its last attempt at
 * error with id and reason. Each kind is rate-limited on its own budget.
 */
export class FailureLog {
  private readonly failures: LogBudget;
  private readonly deadLetters: LogBudget;

  constructor(
    private readonly log: Logger,
    private readonly maxAttempts: number,
    perWindow = FAILURE_LINES_PER_WINDOW,
    windowMs = FAILURE_WINDOW_MS,
  ) {
    this.failures = new LogBudget(perWindow, windowMs, (suppressed, seconds) =>
      log.warn({ suppressed, seconds }, `suppressed ${suppressed} handler failures in the last ${seconds}s`),
    );
    this.deadLetters = new LogBudget(perWindow, windowMs, (suppressed, seconds) =>
      log.error(
        { suppressed, seconds },
        `suppressed ${suppressed} dead-letter lines in the last ${seconds}s (see redispatch dlq list)`,
      ),
    );
  }

  /**
   * A handler threw or rejected; on the last attempt the message is dead-lettered with `reason`.
   * `maxAttempts`: the message's own limit when its publisher set one.
   */
  failed(id: string, attempt: number, error: unknown, reason: string, maxAttempts = this.maxAttempts): void {
    if (this.failures.take())
      this.log.warn({ id, attempt, maxAttempts, err: asError(error) }, 'handler failed');
    if (attempt >= maxAttempts && this.deadLetters.take())
      this.log.error(
        { id, attempt, maxAttempts, reason },
        'dead-lettering: the handler failed on its last attempt',
      );
  }

  /** A handler passed its ack deadline; the leader redelivers (or dead-letters) it. */
  timedOut(id: string, attempt: number, timeoutMs: number): void {
    if (this.failures.take())
      this.log.warn({ id, attempt, timeoutMs }, 'handler passed the ack deadline; leaving it to redelivery');
  }

  /** Writes what the current windows suppressed (at close, so no count is lost). */
  flush(): void {
    this.failures.flush();
    this.deadLetters.flush();
  }
}
