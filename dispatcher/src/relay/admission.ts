import type { IncomingMessage } from 'node:http';
import { isSessionId } from '@redispatch/shared';
import { type AuthOutcome, authenticate, type RelayAuthHook } from './auth-hook.js';
import type { RefusalReason } from './relay-metrics.js';
import { resumeSecretMatches } from './resume-secret.js';
import type { Session, SessionRegistry } from './session-registry.js';

/** Request header carrying the resume secret (never the query string: URLs end up in logs). */
export const RESUME_HEADER = 'x-redispatch-resume';
/** Subprotocol a browser offers to get its session id and resume secret in a first text frame. */
export const SESSION_PROTOCOL = 'redispatch.v1';
/** Prefix of the subprotocol a browser (which cannot set headers) presents its resume secret in. */
export const RESUME_PROTOCOL_PREFIX = 'redispatch.resume.';

export interface AdmissionPolicy {
  sessions: SessionRegistry;
  /** Browser origins allowed; undefined = any. A request without an Origin header is not a browser's. */
  origins: readonly string[] | undefined;
  auth: RelayAuthHook | undefined;
}

export type Admission =
  | { readonly kind: 'new'; readonly identity: string | undefined }
  | { readonly kind: 'resume'; readonly session: Session; readonly identity: string | undefined }
  | {
      readonly kind: 'refused';
      readonly status: number;
      readonly text: string;
      readonly reason: RefusalReason;
      readonly error?: unknown;
    };

const refused = (status: number, text: string, reason: RefusalReason, error?: unknown): Admission => ({
  kind: 'refused',
  status,
  text,
  reason,
  error,
});

/** The resume secret a client presents: the header, else a `redispatch.resume.<secret>` subprotocol. */
function presentedSecret(request: IncomingMessage): string | undefined {
  const header = request.headers[RESUME_HEADER];
  if (typeof header === 'string') return header.trim();
  const protocols = request.headers['sec-websocket-protocol'];
  for (const protocol of (protocols ?? '').split(',')) {
    const p = protocol.trim();
    if (p.startsWith(RESUME_PROTOCOL_PREFIX)) return p.slice(RESUME_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/**
 * Decides what an upgrade request gets, cheapest check first: a browser origin not allowed (403), a
 * resume without the session's secret (401) or of a session this relay does not hold (404), a client
 * the auth hook refuses (401) or a hook that failed (503). A resume needs the secret and, with a
 * hook, the identity the session was opened with.
 */
export async function admit(policy: AdmissionPolicy, request: IncomingMessage): Promise<Admission> {
  const origin = request.headers.origin;
  if (policy.origins !== undefined && origin !== undefined && !policy.origins.includes(origin))
    return refused(403, 'Forbidden', 'origin');
  const url = new URL(request.url ?? '/', 'http://relay');
  const resumeId = url.searchParams.get('session');
  let session: Session | undefined;
  if (resumeId !== null) {
    session = isSessionId(resumeId) ? policy.sessions.get(resumeId) : undefined;
    if (!session) return refused(404, 'Unknown Session', 'unknown_session');
    const secret = presentedSecret(request);
    if (secret === undefined || !resumeSecretMatches(secret, session.secretHash))
      return refused(401, 'Unauthorized', 'bad_resume');
  }
  let outcome: AuthOutcome = { kind: 'accepted', identity: undefined };
  if (policy.auth) outcome = await authenticate(policy.auth, request);
  if (outcome.kind === 'refused') return refused(401, 'Unauthorized', 'unauthorized');
  if (outcome.kind === 'failed') return refused(503, 'Service Unavailable', 'auth_error', outcome.error);
  if (!session) return { kind: 'new', identity: outcome.identity };
  // After a relay restart the session's identity is unknown: the hook's answer now is taken.
  if (session.identity !== undefined && session.identity !== outcome.identity)
    return refused(403, 'Forbidden', 'unauthorized');
  return { kind: 'resume', session, identity: outcome.identity };
}
