import { randomBytes } from 'node:crypto';

/**
 * Reply addresses, carried in the envelope's `replyTo` field (1..255 UTF-8 bytes):
 * - `relay:<relayId>:<sessionId>[.<binding>]`: a WebSocket session held by the relay instance
 *   `relayId`. The session id is 22 characters of base64url (128 random bits) and never contains ':',
 *   so the relay id (which may) is everything between the first and the last ':'. The binding is the
 *   relay's proof that it minted this address for a frame the session sent (base64url, 1..64
 *   characters): the session id alone routes, it does not entitle anyone to reach the session.
 * - `http://…` / `https://…`: an HTTP endpoint the deliverer POSTs the reply to.
 * Anything else is the application's own business: the worker writes no outbound entry for it.
 */
export type ReplyAddress =
  | {
      readonly kind: 'relay';
      readonly relayId: string;
      readonly sessionId: string;
      /** The relay's per-frame proof; undefined in an address that carries none (always refused). */
      readonly binding: string | undefined;
    }
  | { readonly kind: 'http'; readonly url: string };

/** Relay ids follow the same rule as every other instance id (REDISPATCH_INSTANCE_ID). */
const RELAY_ID = /^[A-Za-z0-9._:-]+$/;
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const BINDING = /^[A-Za-z0-9_-]{1,64}$/;

/** A fresh, unguessable session id: 128 random bits, base64url (22 characters). */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}

export function isRelayId(value: string): boolean {
  return RELAY_ID.test(value) && value.length <= 200;
}

export function relayAddress(relayId: string, sessionId: string, binding?: string): string {
  return binding === undefined ? `relay:${relayId}:${sessionId}` : `relay:${relayId}:${sessionId}.${binding}`;
}

/** Parses a reply address; `undefined` for an address redispatch does not deliver to. */
export function parseReplyAddress(replyTo: string | undefined): ReplyAddress | undefined {
  if (replyTo === undefined) return undefined;
  if (replyTo.startsWith('relay:')) {
    const last = replyTo.lastIndexOf(':');
    const relayId = replyTo.slice(6, last);
    const session = replyTo.slice(last + 1);
    const dot = session.indexOf('.');
    const sessionId = dot < 0 ? session : session.slice(0, dot);
    const binding = dot < 0 ? undefined : session.slice(dot + 1);
    if (last <= 6 || !isRelayId(relayId) || !isSessionId(sessionId)) return undefined;
    if (binding !== undefined && !BINDING.test(binding)) return undefined;
    return { kind: 'relay', relayId, sessionId, binding };
  }
  if (replyTo.startsWith('http://') || replyTo.startsWith('https://')) {
    try {
      return { kind: 'http', url: new URL(replyTo).href };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The outbound queue a reply to `address` goes to, as the route the settle scripts append to the
 * deployment's hash tag: `{prefix}:out:<route>`. Every relay has its own queue; HTTP replies share one.
 */
export function outboundRoute(address: ReplyAddress): string {
  return address.kind === 'relay' ? `relay:${address.relayId}` : 'http';
}
