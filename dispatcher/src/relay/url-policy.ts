import { ENCODED_SEPARATOR, type HttpAllowEntry, rawAuthority, rawPath } from '@redispatch/shared';
import type { AddressClass } from './address-class.js';

/** A reply URL the allowlist admits (parsed once: the POST goes to exactly this URL), or why not. */
export type UrlDecision =
  | { kind: 'allowed'; url: URL; entry: HttpAllowEntry }
  | { kind: 'refused'; why: string };

/** Classes a hostname entry may resolve to; loopback only for `localhost` (RFC 6761). */
const NAMED_HOST_CLASSES: readonly AddressClass[] = ['public', 'private', 'shared'];
/** Classes that are no destination even when an entry names the address literally. */
const NEVER: readonly AddressClass[] = ['unspecified', 'multicast', 'reserved'];

function isLocalhostName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/**
 * REDISPATCH_HTTP_ALLOW as a policy. Publishers choose reply addresses, so a reply URL is allowed
 * only if its origin equals an entry's exactly and its normalised path is the entry's path or below
 * it on a segment boundary; user info and percent-encoded `.`, `/` or `\` in the path are refused
 * outright (servers and proxies disagree on what they mean). No entries: nothing is allowed.
 */
export class UrlPolicy {
  constructor(private readonly entries: readonly HttpAllowEntry[]) {}

  get empty(): boolean {
    return this.entries.length === 0;
  }

  check(replyTo: string): UrlDecision {
    if (this.empty) return { kind: 'refused', why: 'REDISPATCH_HTTP_ALLOW is empty' };
    let url: URL;
    try {
      url = new URL(replyTo);
    } catch {
      return { kind: 'refused', why: 'not a URL' };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return { kind: 'refused', why: `scheme ${url.protocol}` };
    if (url.username || url.password || rawAuthority(replyTo).includes('@'))
      return { kind: 'refused', why: 'user info in the URL' };
    if (ENCODED_SEPARATOR.test(rawPath(replyTo)) || ENCODED_SEPARATOR.test(url.pathname))
      return { kind: 'refused', why: 'encoded ".", "/" or "\\" in the path' };
    const sameOrigin = this.entries.filter((entry) => entry.origin === url.origin);
    if (sameOrigin.length === 0) return { kind: 'refused', why: `no entry for origin ${url.origin}` };
    const entry = sameOrigin.find(
      (candidate) => url.pathname === candidate.path || url.pathname.startsWith(`${candidate.path}/`),
    );
    if (!entry) return { kind: 'refused', why: `path ${url.pathname.slice(0, 100)} is outside the entries` };
    return { kind: 'allowed', url, entry };
  }
}

/**
 * May a reply allowed by `entry` connect to an address of this class? An entry naming an IP literally
 * means that address (whatever its range: the operator wrote it); a hostname entry may resolve to
 * public, private or shared addresses (in-cluster receivers live there), to loopback only if it is
 * `localhost`, and never to link-local (cloud metadata), unspecified, multicast or reserved ones.
 */
export function destinationAllowed(entry: HttpAllowEntry, address: AddressClass): boolean {
  if (NEVER.includes(address)) return false;
  if (entry.literal !== undefined) return true;
  if (address === 'loopback') return isLocalhostName(entry.hostname);
  return NAMED_HOST_CLASSES.includes(address);
}
