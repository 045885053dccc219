import { aclPasswordHash } from './acl.js';

/**
 * The users a Redis server needs besides redispatch's roles, as ACL file lines
 * (`scripts/acl.mjs --server-users`, deploy/overlays/<mode>/secrets/*.acl):
 *
 * - `default` off: a client that does not authenticate as one of the named users gets nothing, and
 *   no role's credential is the server's master password;
 * - `replicator`: what a replica's `masteruser`/`masterauth` needs to sync from its master (PSYNC,
 *   REPLCONF, PING) and nothing else: a leaked replicator password reads no key;
 * - `ops`: the operator's user (probes, the cluster-forming Job, `kubectl exec … redis-cli`). No
 *   redispatch pod is given its password.
 */
export const SERVER_USERS = ['default', 'replicator', 'ops'] as const;

export interface ServerUserPasswords {
  replicator: string;
  ops: string;
}

export function serverUserLines(passwords: ServerUserPasswords): string[] {
  return [
    'user default off resetpass resetkeys resetchannels -@all',
    `user replicator on ${aclPasswordHash(passwords.replicator)} resetkeys resetchannels -@all +psync +replconf +ping`,
    `user ops on ${aclPasswordHash(passwords.ops)} ~* &* +@all`,
  ];
}
