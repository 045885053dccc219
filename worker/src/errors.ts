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
