import http from 'node:http';
import https from 'node:https';
import { type PinnedAddress, pinnedLookup } from './pinned-destination.js';

/** Response bytes read at most; the rest is not read (the connection is closed instead). */
export const RESPONSE_BODY_CAP_BYTES = 64 * 1024;

export interface PinnedPost {
  url: URL;
  /** Checked addresses: the connection goes to one of these, never to a fresh DNS answer. */
  addresses: readonly PinnedAddress[];
  body: Buffer;
  headers: Record<string, string>;
  signal: AbortSignal;
  agents: PostAgents;
}

export interface PostAgents {
  http: http.Agent;
  https: https.Agent;
}

/** Keep-alive agents: a socket is reused only for the same host and port, whose address was checked. */
export function createPostAgents(maxSockets: number): PostAgents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets }),
    https: new https.Agent({ keepAlive: true, maxSockets }),
  };
}

/**
 * POSTs once with node:http(s) (redirects are never followed) and resolves to the status. Reads at
 * most RESPONSE_BODY_CAP_BYTES of the answer: a larger one has its connection destroyed, so an
 * endpoint streaming without end cannot grow the relay's memory or hold the slot.
 */
export function pinnedPost(post: PinnedPost): Promise<number> {
  const { url } = post;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...post.headers, 'content-length': String(post.body.length) },
        lookup: pinnedLookup(post.addresses),
        agent: url.protocol === 'https:' ? post.agents.https : post.agents.http,
        signal: post.signal,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const settle = () => resolve(status);
        let seen = 0;
        response.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > RESPONSE_BODY_CAP_BYTES) {
            response.destroy();
            settle();
          }
        });
        // The status is the answer: a body cut short by the cap, the timeout or the peer changes nothing.
        response.on('end', settle);
        response.on('error', settle);
        response.on('close', settle);
      },
    );
    request.on('error', reject);
    request.end(post.body);
  });
}
