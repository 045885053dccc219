import { type DataClient, newSessionId, type OutboundEntry } from '@redispatch/shared';
import type { WebSocket } from 'ws';

/** One client session. Its id is in every reply address the relay publishes for it. */
export interface Session {
  readonly id: string;
  /** The open socket, or undefined while detached (waiting for the client to resume). */
  socket: WebSocket | undefined;
  /** Epoch ms when the socket went away (0 while attached). */
  detachedAt: number;
  /** Replies that arrived while detached, in order; they stay in the processing list until sent. */
  pending: OutboundEntry[];
  /** Frames published minus replies delivered: a drain waits for this to reach 0. */
  awaiting: number;
  /** Resolves once the session is recorded in Redis; frames are published only after it. */
  ready: Promise<void>;
}

/**
 * The sessions one relay holds, mirrored in `{prefix}:relay-sessions:<relayId>` (session id ->
 * detached-at ms, 0 = attached) so a restarted relay with the same id accepts resumes of the
 * sessions its predecessor held and keeps their queued replies for them. Session ids are 128-bit
 * random: knowing one is what entitles a client to resume it, and a reply whose session the relay
 * does not hold goes to the fallback, never to another socket.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly redis: DataClient,
    private readonly key: string,
    private readonly resumeMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Loads the sessions a previous process with this relay id held; they start detached now. */
  async load(): Promise<number> {
    const stored = await this.redis.hgetall(this.key);
    const now = Date.now();
    const stale: string[] = [];
    for (const [id, value] of Object.entries(stored)) {
      const detachedAt = value === '0' ? now : Number(value);
      if (now - detachedAt >= this.resumeMs) stale.push(id);
      else
        this.sessions.set(id, {
          id,
          socket: undefined,
          detachedAt,
          pending: [],
          awaiting: 0,
          ready: Promise.resolve(),
        });
    }
    if (stale.length > 0) await this.redis.hdel(this.key, ...stale);
    return this.sessions.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /** A new session for a new socket. */
  open(socket: WebSocket, id = newSessionId()): Session {
    const session: Session = {
      id,
      socket,
      detachedAt: 0,
      pending: [],
      awaiting: 0,
      ready: this.persist(id, 0),
    };
    this.sessions.set(id, session);
    return session;
  }

  /** Attaches `socket` to a held session (a resume); a socket still attached to it is closed. */
  resume(session: Session, socket: WebSocket): void {
    const previous = session.socket;
    session.socket = socket;
    session.detachedAt = 0;
    session.ready = this.persist(session.id, 0);
    if (previous && previous !== socket) previous.close(4001, 'session resumed on another socket');
  }

  detach(session: Session, socket: WebSocket): void {
    if (session.socket !== socket) return;
    session.socket = undefined;
    session.detachedAt = Date.now();
    void this.persist(session.id, session.detachedAt);
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

  private persist(id: string, detachedAt: number): Promise<void> {
    return this.redis.hset(this.key, id, detachedAt).then(
      () => undefined,
      (error: unknown) => this.onError(error),
    );
  }
}
