import type { IncomingMessage } from 'node:http';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@redispatch/shared';

/** What the hook sees of an upgrade request. */
export interface RelayAuthRequest {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly remoteAddress: string | undefined;
}

/**
 * The contract of a `--relay-auth` module's default export. Return the client's identity (a string,
 * or a JSON-serialisable object) to accept; `false`, `null` or `undefined` to refuse with 401. A
 * throw or a hook slower than the timeout refuses too (logged). The identity reaches handlers as
 * `msg.header.identity` (at most 1024 bytes of UTF-8 once serialised).
 */
export type RelayAuthHook = (request: RelayAuthRequest) => unknown;

export type AuthOutcome =
  | { readonly kind: 'accepted'; readonly identity: string | undefined }
  | { readonly kind: 'refused' }
  | { readonly kind: 'failed'; readonly error: unknown };

/** Largest identity, in UTF-8 bytes (the envelope's identity record). */
export const MAX_IDENTITY_BYTES = 1024;
const HOOK_TIMEOUT_MS = 10_000;

/** Loads the module named by REDISPATCH_RELAY_AUTH; a bad module is a configuration error. */
export async function loadAuthHook(modulePath: string): Promise<RelayAuthHook> {
  const url = pathToFileURL(isAbsolute(modulePath) ? modulePath : resolve(process.cwd(), modulePath)).href;
  let loaded: { default?: unknown };
  try {
    loaded = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError([
      `REDISPATCH_RELAY_AUTH (--relay-auth) could not load ${JSON.stringify(modulePath)}: ${(error as Error).message.split('\n')[0]}`,
    ]);
  }
  if (typeof loaded.default !== 'function')
    throw new ConfigError([
      `REDISPATCH_RELAY_AUTH (--relay-auth) module ${JSON.stringify(modulePath)} has no default export function`,
    ]);
  return loaded.default as RelayAuthHook;
}

/** Runs the hook on one request, bounded in time; never throws. */
export async function authenticate(hook: RelayAuthHook, request: IncomingMessage): Promise<AuthOutcome> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      Promise.resolve(
        hook({
          url: request.url ?? '/',
          headers: request.headers,
          remoteAddress: request.socket.remoteAddress,
        }),
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`auth hook gave no answer in ${HOOK_TIMEOUT_MS} ms`)),
          HOOK_TIMEOUT_MS,
        );
      }),
    ]);
    if (answer === false || answer === null || answer === undefined) return { kind: 'refused' };
    if (answer === true) return { kind: 'accepted', identity: undefined };
    const identity = typeof answer === 'string' ? answer : JSON.stringify(answer);
    const bytes = Buffer.byteLength(identity);
    if (bytes === 0 || bytes > MAX_IDENTITY_BYTES)
      return {
        kind: 'failed',
        error: new Error(`auth hook returned an identity of ${bytes} bytes (1..${MAX_IDENTITY_BYTES})`),
      };
    return { kind: 'accepted', identity };
  } catch (error) {
    return { kind: 'failed', error };
  } finally {
    clearTimeout(timer);
  }
}
