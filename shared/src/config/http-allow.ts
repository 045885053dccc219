import { isIP } from 'node:net';

/**
 * One REDISPATCH_HTTP_ALLOW entry, parsed once at config load. A reply URL matches it when its origin
 * (scheme, host, port) is `origin` exactly and its normalised path is `path` or lies below it on a
 * segment boundary.
 */
export interface HttpAllowEntry {
  /** The entry as the operator wrote it (for logs). */
  readonly raw: string;
  /** `http://host[:port]` as WHATWG URL serialises it (lower-case host, default port elided). */
  readonly origin: string;
  /** The host as it appears in the URL: a name, an IPv4 literal or a bracketed IPv6 literal. */
  readonly hostname: string;
  /** The IP address when the entry names one literally (brackets removed), else undefined. */
  readonly literal: string | undefined;
  /** The normalised path without a trailing slash ('' for the root: every path). */
  readonly path: string;
}

/** Percent-encoded `.`, `/` and `\`: a server may decode them into segments the policy never saw. */
export const ENCODED_SEPARATOR = /%2e|%2f|%5c/i;

/** The authority as written (between `scheme:` + slashes and the first `/`, `\`, `?` or `#`). */
export function rawAuthority(raw: string): string {
  const rest = raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:[/\\]*/, '');
  return /^[^/\\?#]*/.exec(rest)?.[0] ?? '';
}

/** The path as written (after the authority, before `?` or `#`). */
export function rawPath(raw: string): string {
  const rest = raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:[/\\]*[^/\\?#]*/, '');
  return /^[^?#]*/.exec(rest)?.[0] ?? '';
}

/** The IP in a URL hostname (`[::1]` → `::1`), or undefined for a name. */
export function hostLiteral(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) ? bare : undefined;
}

/** Parses one entry; throws an Error whose message says what is wrong (one line). */
export function parseHttpAllowEntry(raw: string): HttpAllowEntry {
  const shown = JSON.stringify(raw.slice(0, 60));
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${shown} is not an absolute URL (expected http(s)://host[:port]/path)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${shown} has scheme "${url.protocol.slice(0, -1)}" (expected http or https)`);
  if (url.username || url.password || rawAuthority(raw).includes('@'))
    throw new Error(`${shown} has user info (user@host); name the host only`);
  if (url.search || url.hash || /[?#]/.test(raw))
    throw new Error(`${shown} has a query or fragment; entries are an origin and a path`);
  if (ENCODED_SEPARATOR.test(rawPath(raw)))
    throw new Error(`${shown} has an encoded ".", "/" or "\\" in its path`);
  return Object.freeze({
    raw,
    origin: url.origin,
    hostname: url.hostname,
    literal: hostLiteral(url.hostname),
    path: url.pathname.replace(/\/+$/, ''),
  });
}
