/** Why a handler process stopped with messages in hand (also the restart metric's `reason` label). */
export type HandlerProcessEnd = 'exit' | 'signal' | 'memory' | 'timeout' | 'stopped';

/**
 * The child process running a message's handler died (exited, was killed by a signal, passed its
 * memory limit, or was killed because a handler passed its ack deadline). The message is nacked with
 * this error's text and retried like any handler failure.
 */
export class HandlerProcessError extends Error {
  override readonly name = 'HandlerProcessError';
  constructor(
    message: string,
    readonly reason: HandlerProcessEnd,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Thrown by a handler: the message is dead-lettered at once (no retry), with this error's message as
 * the reason. Matched by `name`, so a handler module may throw its own class of that name instead of
 * importing this one (handlers in child processes keep the name too).
 */
export class UnrecoverableError extends Error {
  override readonly name = 'UnrecoverableError';
}
