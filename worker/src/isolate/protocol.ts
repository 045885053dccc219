import type { DecodedHeader } from '@redispatch/shared';

/**
 * IPC between a worker and its handler processes (`serialization: 'advanced'`, so Buffers arrive as
 * Buffers, byte-exact). `seq` numbers one run within one child.
 */
export type ToChild =
  | {
      type: 'run';
      seq: number;
      id: string;
      body: Buffer;
      header: DecodedHeader | undefined;
      attempt: number;
      claimedAt: number;
    }
  | { type: 'abort'; seq: number; name: string; message: string }
  /** The answer to a child's `extend` request `request`: extended, or `error` (msg.extend rejects). */
  | { type: 'extended'; seq: number; request: number; extended: boolean; error?: string };

export type FromChild =
  | { type: 'ready' }
  | { type: 'load-failed'; message: string }
  /** `value`: what the handler resolved to; `replies`: what it gave `msg.reply` (both become replies). */
  | { type: 'done'; seq: number; value?: unknown; replies?: unknown[] }
  /** `stack`: the handler's own stack, for the worker's log line and the dead letter (absent for a thrown non-Error). */
  | {
      type: 'failed';
      seq: number;
      name: string;
      message: string;
      stack?: string | undefined;
      /** The error's numeric `retryAfterMs` (it steers the retry delay), when it had one. */
      retryAfterMs?: number | undefined;
    }
  /** The handler called `msg.extend(ms)`; answered by `extended` with the same `request`. */
  | { type: 'extend'; seq: number; request: number; ms: number };
