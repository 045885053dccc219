import { FencedError, WorkerNotRegisteredError } from '../errors.js';

/**
 * Domain outcomes a script returns as a leading negative integer instead of its normal reply (see
 * each script's `Errors:` header line). Mapped to typed errors in ONE place: `throwOnScriptCode`.
 */
export enum ScriptCode {
  /** The caller's epoch is stale: a newer leader exists (dispatchBatch, reap, streamAppend, streamMaintain). */
  Fenced = -1,
  /** The worker is not in the registry: it was declared dead and must re-register (claim). */
  NotRegistered = -2,
}

/** The domain code a reply carries, if any. */
export function scriptCodeOf(reply: readonly unknown[]): ScriptCode | undefined {
  const first = reply[0];
  return first === ScriptCode.Fenced || first === ScriptCode.NotRegistered ? first : undefined;
}

/** What a caller knows that the error should carry. */
export interface ScriptCallContext {
  epoch?: number;
  workerId?: string;
}

/** Throws the typed error for a script's domain code, if its reply carries one. */
export function throwOnScriptCode(reply: readonly unknown[], context: ScriptCallContext): void {
  switch (scriptCodeOf(reply)) {
    case ScriptCode.Fenced:
      throw new FencedError(context.epoch ?? 0);
    case ScriptCode.NotRegistered:
      throw new WorkerNotRegisteredError(context.workerId ?? '');
    case undefined:
      return;
  }
}

/** Throws `FencedError` when a fenced script rejected the caller's epoch. */
export function assertNotFenced(reply: readonly unknown[], epoch: number): void {
  throwOnScriptCode(reply, { epoch });
}
