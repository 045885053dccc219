import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A session's resume secret: what entitles a client to take its session back after a dropped
 * connection. The session id is only a routing id (it is in every reply address, so in the channel,
 * handlers, dead letters and logs); the secret goes to the client once, in the upgrade response, and
 * the relay keeps only its SHA-256 (in memory and in `{prefix}:relay-sessions:<relayId>`).
 */
export interface ResumeSecret {
  /** 256 random bits, base64url: handed to the client, never stored or logged. */
  readonly secret: string;
  /** base64url SHA-256 of the secret: what the relay keeps. */
  readonly hash: string;
}

/** A secret is 43 characters of base64url (32 bytes). */
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newResumeSecret(): ResumeSecret {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: hashResumeSecret(secret) };
}

export function hashResumeSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Whether `presented` is the secret behind `storedHash`, in time that does not depend on where they differ. */
export function resumeSecretMatches(presented: string, storedHash: string): boolean {
  if (!SECRET_PATTERN.test(presented)) return false;
  const a = Buffer.from(hashResumeSecret(presented));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
