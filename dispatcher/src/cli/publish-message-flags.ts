/**
 * `redispatch publish`'s real-message flags: the body (text or a file) and the per-message options a
 * publisher sets in the envelope (publisher id, attempts, TTL, handler timeout, priority).
 */
import { readFileSync } from 'node:fs';
import {
  MAX_ENVELOPE_ATTEMPTS,
  MAX_ENVELOPE_NAMESPACE_BYTES,
  MAX_ENVELOPE_PRIORITY,
  MAX_ENVELOPE_STRING_BYTES,
  MAX_ENVELOPE_TIMEOUT_MS,
} from '@redispatch/shared';
import type { Command } from 'commander';

/** What every published message carries besides the load generator's numbered body. */
export interface MessageFlags {
  /** The body of every message (instead of the numbered load payload). */
  body?: Buffer | undefined;
  id?: string | undefined;
  /** The publisher namespace (record 0x08): the leader dedupes `id` per namespace. */
  namespace?: string | undefined;
  attempts?: number | undefined;
  ttlMs?: number | undefined;
  timeoutMs?: number | undefined;
  priority?: number | undefined;
}

export interface RawMessageFlags {
  body?: string;
  bodyFile?: string;
  messageId?: string;
  namespace?: string;
  attempts?: string;
  ttl?: string;
  timeout?: string;
  priority?: string;
}

export function addMessageFlags(command: Command): Command {
  return command
    .option('--body <text>', 'the body of every message, as UTF-8 text (instead of the numbered load body)')
    .option('--body-file <path>', 'the body of every message, the bytes of this file')
    .option('--message-id <id>', 'publisher message id, for deduplication (with --count 1)')
    .option(
      '--namespace <name>',
      `publisher namespace, 1..${MAX_ENVELOPE_NAMESPACE_BYTES} UTF-8 bytes: message ids are deduplicated per namespace`,
    )
    .option(
      '--attempts <n>',
      `most deliveries of each message, 1..${MAX_ENVELOPE_ATTEMPTS} (overrides REDISPATCH_MAX_ATTEMPTS)`,
    )
    .option(
      '--ttl <ms>',
      'dead-letter a message still unhandled this many ms after publishing (reason "expired")',
    )
    .option('--timeout <ms>', "the message's own handler timeout in ms (shorter than the ack timeout)")
    .option('--priority <p>', `0..${MAX_ENVELOPE_PRIORITY}: higher is routed first (lists mode)`);
}

function integerFlag(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max)
    throw new Error(`${flag} expects a whole number from ${min} to ${max} (got "${raw}")`);
  return value;
}

/** Checks and reads the flags; throws one line naming the flag that is wrong. */
export function parseMessageFlags(raw: RawMessageFlags, count: number): MessageFlags {
  if (raw.body !== undefined && raw.bodyFile !== undefined)
    throw new Error('--body and --body-file: give one of them, not both');
  let body: Buffer | undefined;
  if (raw.body !== undefined) body = Buffer.from(raw.body, 'utf8');
  if (raw.bodyFile !== undefined) {
    try {
      body = readFileSync(raw.bodyFile);
    } catch (error) {
      throw new Error(`--body-file: cannot read "${raw.bodyFile}": ${(error as Error).message}`);
    }
  }
  const id = raw.messageId;
  if (id !== undefined) {
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes === 0 || bytes > MAX_ENVELOPE_STRING_BYTES)
      throw new Error(`--message-id expects 1..${MAX_ENVELOPE_STRING_BYTES} UTF-8 bytes (got ${bytes})`);
    if (count !== 1)
      throw new Error(
        `--message-id needs --count 1 (every copy would carry the same id and be deduplicated)`,
      );
  }
  const namespace = raw.namespace;
  if (namespace !== undefined) {
    const bytes = Buffer.byteLength(namespace, 'utf8');
    if (bytes === 0 || bytes > MAX_ENVELOPE_NAMESPACE_BYTES)
      throw new Error(`--namespace expects 1..${MAX_ENVELOPE_NAMESPACE_BYTES} UTF-8 bytes (got ${bytes})`);
  }
  return {
    body,
    id,
    namespace,
    attempts: integerFlag('--attempts', raw.attempts, 1, MAX_ENVELOPE_ATTEMPTS),
    ttlMs: integerFlag('--ttl', raw.ttl, 1, Number.MAX_SAFE_INTEGER),
    timeoutMs: integerFlag('--timeout', raw.timeout, 1, MAX_ENVELOPE_TIMEOUT_MS),
    priority: integerFlag('--priority', raw.priority, 0, MAX_ENVELOPE_PRIORITY),
  };
}

/** Whether any flag needs an envelope header. */
export function needsHeader(flags: MessageFlags): boolean {
  return (
    flags.id !== undefined ||
    flags.namespace !== undefined ||
    flags.attempts !== undefined ||
    flags.ttlMs !== undefined ||
    flags.timeoutMs !== undefined ||
    flags.priority !== undefined
  );
}
