import type { Server, ServerOptions } from 'node:http';

/** Whole request headers must arrive within this (a slowloris sends them a byte at a time). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A whole request (headers and body) must arrive within this. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Connections a server accepts beyond its own limit, so refusals and probes still get through. */
const CONNECTION_HEADROOM = 256;

/**
 * Options for every HTTP server a redispatch process runs (relay, metrics): header and request
 * timeouts checked every second (Node's default check runs every 30 s), and a short keep-alive, so a
 * slowloris cannot pin the server's sockets.
 */
export const HARDENED_SERVER_OPTIONS: ServerOptions = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  connectionsCheckingInterval: 1_000,
};

/** Caps open connections (a flood of idle ones is refused at accept, not held). */
export function capConnections(server: Server, maxConnections: number): void {
  server.maxConnections = maxConnections + CONNECTION_HEADROOM;
}
