import type { DecodedHeader } from '@redispatch/shared';

/** What a handler receives. Fields are a contract: extend, never rename. */
export interface Message {
  /** Leader-assigned id, unique for the deployment's lifetime. */
  readonly id: string;
  /** The body as published, without the envelope header if it had one (binary-safe). */
  readonly body: Buffer;
  /** The envelope header (publisher id, reply address, publish timestamp, …), or undefined for a plain payload. */
  readonly header: DecodedHeader | undefined;
  /** 1 on first delivery; counts every delivery, including ones lost to timeouts or worker crashes. */
  readonly attempt: number;
  /** Aborted when the ack deadline passes or the worker is shutting down past its grace period. */
  readonly signal: AbortSignal;
  /** Epoch ms when this worker claimed the message. */
  readonly claimedAt: number;
}

/** A handler module's default export. Resolve to ack; throw (or reject) to nack and retry. */
export type Handler = (message: Message) => unknown | Promise<unknown>;
