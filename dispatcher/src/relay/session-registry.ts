import type { DataClient, OutboundEntry } from '@redispatch/shared';
import type { WebSocket } from 'ws';
import { BINDING_KEY_FIELD } from './reply-binding.js';
import { type FlowLimits, SessionFlow } from './session-flow.js';

/** One client session. Its id is in every reply address the relay publishes for it. */
export interface Session {
  readonly id: string;
  /** SHA-256 of the resume secret (base64url); the secret itself was handed to the client only. */
  readonly secretHash: string;
  /** What the auth hook said the client is (undefined without a hook, or after a relay restart). */
  identity: string | undefined;
  /** The open socket, or undefined while detached (waiting for the client to resume). */
  socket: WebSocket | undefined;
  /** Epoch ms when the socket went away (0 while attached). */
  detachedAt: number;
  /** Replies that arrived while detached, in order; they stay in the processing list until sent. */
  pending: OutboundEntry[];
  /** Payload bytes of `pending`. */
  pendingBytes: number;
  /** Frames awaiting a reply and the frame-rate bucket: decides whether its socket is read. */
  readonly flow: SessionFlow;
  /**
   * Frames read but not yet published because the session is held: what the socket had already
   * read when reading stopped (bounded by one read, not by the client). Published in order.
   */
  readonly inbox: Buffer[];
  /** Resolves once the session is recorded in Redis; frames are published only after it. */
  ready: Promise<void>;
}

/** Stored per session in the hash: `<detachedAtMs>:<secretHash>` (0 = attached). */
function storedValue(detachedAt: number, secretHash: string): string {
  return `${detachedAt}:${secretHash}`;
}

/**
 * The sessions one relay holds, mirrored in `{prefix}:relay-sessions:<relayId>` (session id ->
 * detached-at ms and the resume secret's hash) so a restarted relay with the same id accepts resumes
 * of the sessions its predecessor held and keeps their queued replies for them. The session id is a
 * routing id; resuming needs the secret. Holds at most `maxSessions`: a new session past it evicts
 * the longest-detached one.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly redis: DataClient,
    private readonly key: string,
    private readonly resumeMs: number,
    private readonly maxSessions: number,
    private readonly flowLimits: FlowLimits,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Loads the sessions a previous process with this relay id held; they start detached now. */
  async load(): Promise<number> {
    const stored = await this.redis.hgetall(this.key);
    const now = Date.now();
    const stale: string[] = [];
    for (const [id, value] of Object.entries(stored)) {
      if (id === BINDING_KEY_FIELD) continue;
      const colon = value.indexOf(':');
      // A record without a secret hash (written before resume secrets) can never be resumed safely.
      const secretHash = colon < 0 ? '' : value.slice(colon + 1);
      const at = Number(colon < 0 ? value : value.slice(0, colon));
      const detachedAt = at === 0 ? now : at;
      if (secretHash === '' || now - detachedAt >= this.resumeMs || this.sessions.size >= this.maxSessions)
        stale.push(id);
      else this.sessions.set(id, this.create(id, secretHash, undefined, detachedAt, Promise.resolve()));
    }
    if (stale.length > 0) await this.redis.hdel(this.key, ...stale);
    return this.sessions.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * A new session for a new socket. When the relay is full, the longest-detached session is
   * forgotten first; its waiting replies are returned for the fallback.
   */
  open(
    socket: WebSocket,
    id: string,
    secretHash: string,
    identity: string | undefined,
  ): { session: Session; evicted: OutboundEntry[] } {
    const evicted = this.sessions.size >= this.maxSessions ? this.evictOldestDetached() : [];
    const session = this.create(id, secretHash, identity, 0, this.persist(id, 0, secretHash));
    session.socket = socket;
    this.sessions.set(id, session);
    return { session, evicted };
  }

  /** Attaches `socket` to a held session (a resume); a socket still attached to it is closed. */
  resume(session: Session, socket: WebSocket): void {
    const previous = session.socket;
    session.socket = socket;
    session.detachedAt = 0;
    session.ready = this.persist(session.id, 0, session.secretHash);
    if (previous && previous !== socket) previous.close(4001, 'session resumed on another socket');
  }

  detach(session: Session, socket: WebSocket): void {
    if (session.socket !== socket) return;
    session.socket = undefined;
    session.detachedAt = Date.now();
    void this.persist(session.id, session.detachedAt, session.secretHash);
  }

  /** Forgets sessions detached for the resume window; returns their undelivered replies. */
  expire(now = Date.now()): OutboundEntry[] {
    const orphans: OutboundEntry[] = [];
    const gone: string[] = [];
    for (const session of this.sessions.values()) {
      if (session.socket || now - session.detachedAt < this.resumeMs) continue;
      orphans.push(...session.pending);
      gone.push(session.id);
      this.sessions.delete(session.id);
    }
    if (gone.length > 0) this.redis.hdel(this.key, ...gone).catch(this.onError);
    return orphans;
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  counts(): { attached: number; detached: number } {
    let attached = 0;
    for (const session of this.sessions.values()) if (session.socket) attached += 1;
    return { attached, detached: this.sessions.size - attached };
  }

  /** Fields for HSET recording every session as detached now (a draining relay's last word). */
  detachedRecords(now = Date.now()): string[] {
    const fields: string[] = [];
    for (const s of this.sessions.values()) fields.push(s.id, storedValue(s.detachedAt || now, s.secretHash));
    return fields;
  }

  private evictOldestDetached(): OutboundEntry[] {
    let oldest: Session | undefined;
    for (const session of this.sessions.values())
      if (!session.socket && (!oldest || session.detachedAt < oldest.detachedAt)) oldest = session;
    if (!oldest) return [];
    this.sessions.delete(oldest.id);
    this.redis.hdel(this.key, oldest.id).catch(this.onError);
    return oldest.pending;
  }

  private create(
    id: string,
    secretHash: string,
    identity: string | undefined,
    detachedAt: number,
    ready: Promise<void>,
  ): Session {
    return {
      id,
      secretHash,
      identity,
      socket: undefined,
      detachedAt,
      pending: [],
      pendingBytes: 0,
      flow: new SessionFlow(this.flowLimits),
      inbox: [],
      ready,
    };
  }

  private persist(id: string, detachedAt: number, secretHash: string): Promise<void> {
    return this.redis.hset(this.key, id, storedValue(detachedAt, secretHash)).then(
      () => undefined,
      (error: unknown) => this.onError(error),
    );
  }
}
