import { randomBytes } from 'node:crypto';

/**
 * Reply addresses, carried in the envelope's `replyTo` field (1..255 UTF-8 bytes):
 * - `relay:<relayId>:<sessionId>`: a WebSocket session held by the relay instance `relayId`. The
 *   session id is 22 characters of base64url (128 random bits) and never contains ':', so the relay
 *   id (which may) is everything between the first and the last ':'.
 * - `http://…` / `https://…`: an HTTP endpoint the deliverer POSTs the reply to.
 * Anything else is the application's own business: the worker writes no outbound entry for it.
 */
export type ReplyAddress =
  | { readonly kind: 'relay'; readonly relayId: string; readonly sessionId: string }
  | { readonly kind: 'http'; readonly url: string };

/** Relay ids follow the same rule as every other instance id (REDISPATCH_INSTANCE_ID). */
const RELAY_ID = /^[A-Za-z0-9._:-]+$/;
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

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

export function relayAddress(relayId: string, sessionId: string): string {
  return `relay:${relayId}:${sessionId}`;
}

/** Parses a reply address; `undefined` for an address redispatch does not deliver to. */
export function parseReplyAddress(replyTo: string | undefined): ReplyAddress | undefined {
  if (replyTo === undefined) return undefined;
  if (replyTo.startsWith('relay:')) {
    const last = replyTo.lastIndexOf(':');
    const relayId = replyTo.slice(6, last);
    const sessionId = replyTo.slice(last + 1);
    if (last <= 6 || !isRelayId(relayId) || !isSessionId(sessionId)) return undefined;
    return { kind: 'relay', relayId, sessionId };
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
