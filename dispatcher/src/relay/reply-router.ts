import { decodeOutboundEntry, type Logger, type OutboundEntry, parseReplyAddress } from '@redispatch/shared';
import type { Finisher } from './finisher.js';
import type { RelayMetrics, UndeliverableReason } from './relay-metrics.js';
import type { ReplyBinding } from './reply-binding.js';
import type { Session, SessionRegistry } from './session-registry.js';

/** Close code for a client that does not read its replies fast enough (4000-4999: application). */
export const SLOW_READER_CLOSE = 4008;

export interface ReplyRouterOptions {
  relayId: string;
  sessions: SessionRegistry;
  binding: ReplyBinding;
  finisher: Finisher;
  metrics: RelayMetrics;
  log: Logger;
  /** What happens to a reply for a session this relay does not hold. */
  fallback: 'drop' | 'dead-letter';
  /** Replies queued longer ago than this (Redis time) are not delivered. */
  retentionMs: number;
  /** Reply bytes one session may hold unsent (socket buffer + waiting for a resume). */
  maxBufferedBytes: number;
  /** Called when a reply released a frame's pending slot (the socket may be read again). */
  onReplied: (session: Session, nonce: string) => void;
}

/**
 * Routes the replies this relay takes from its outbound queue: to the session's open socket; into
 * the session's pending list while it is detached (its client may resume); else to the fallback.
 * A reply reaches a socket only if its address carries a binding this relay minted for a frame of
 * that session. An entry leaves the processing list only once written to a socket, dropped or
 * dead-lettered.
 */
export class ReplyRouter {
  constructor(private readonly o: ReplyRouterOptions) {}

  /** Routes one taken entry; `nowMs` is the Redis server time of the take. */
  route(raw: Buffer, nowMs: number): void {
    let entry: OutboundEntry;
    try {
      entry = decodeOutboundEntry(raw);
    } catch (error) {
      this.o.log.warn({ err: error }, 'malformed outbound entry; dead-lettered');
      this.undeliverable(raw, 'malformed', true);
      return;
    }
    if (nowMs - entry.enqueuedAt > this.o.retentionMs) {
      this.undeliverable(raw, 'expired', true);
      return;
    }
    const address = parseReplyAddress(entry.replyTo);
    if (address?.kind !== 'relay' || address.relayId !== this.o.relayId) {
      this.undeliverable(raw, 'wrong_relay', true);
      return;
    }
    const session = this.o.sessions.get(address.sessionId);
    if (!session) {
      this.undeliverable(raw, 'unknown_session');
      return;
    }
    const bound = this.o.binding.check(session.id, address.binding, entry.enqueuedAt);
    if (bound.kind !== 'bound') {
      // Not a reply to anything this session sent: an address aimed at it by someone else.
      this.o.log.warn(
        { id: entry.messageId, session: session.id, check: bound.kind },
        'unbound reply refused',
      );
      this.undeliverable(raw, bound.kind === 'stale' ? 'expired' : 'unbound', true);
      return;
    }
    this.o.onReplied(session, bound.nonce);
    if (session.socket) this.send(session, entry);
    else this.hold(session, entry);
  }

  /** Sends what waited for a session that has just been resumed, in order. */
  flushPending(session: Session): void {
    const pending = session.pending;
    session.pending = [];
    session.pendingBytes = 0;
    for (const entry of pending) this.send(session, entry);
  }

  /** Replies whose session expired (or was evicted) without a resume go to the fallback. */
  orphaned(entries: readonly OutboundEntry[]): void {
    for (const entry of entries) this.undeliverable(entry.raw, 'session_expired');
  }

  /** Unsent reply bytes the whole relay holds: socket buffers plus replies waiting for resumes. */
  heldBytes(): number {
    let sum = 0;
    for (const s of this.o.sessions.all()) sum += s.pendingBytes + (s.socket?.bufferedAmount ?? 0);
    return sum;
  }

  private send(session: Session, entry: OutboundEntry): void {
    const socket = session.socket;
    if (!socket) {
      this.hold(session, entry);
      return;
    }
    const buffered = socket.bufferedAmount;
    if (buffered > 0 && buffered + entry.payload.length > this.o.maxBufferedBytes) {
      // A client that does not read would make us hold its replies without bound: close it. Its
      // replies wait for a resume (within the same byte limit), as after any dropped connection.
      this.o.metrics.refused.inc({ reason: 'slow_reader' });
      this.o.log.warn({ session: session.id, buffered }, 'closing a session that does not read its replies');
      this.o.sessions.detach(session, socket);
      socket.close(SLOW_READER_CLOSE, 'reader too slow');
      this.hold(session, entry);
      return;
    }
    socket.send(entry.payload, { binary: !entry.text }, (error) => {
      if (error) {
        // The socket died under us: keep the reply for a resume (it is still in the processing list).
        this.hold(session, entry);
        return;
      }
      this.o.metrics.delivered.inc();
      this.o.metrics.deliveryLatency.observe(
        { target: 'websocket' },
        Math.max(0, Date.now() - entry.enqueuedAt) / 1000,
      );
      this.o.finisher.delivered(entry.raw);
    });
  }

  /** Keeps a reply for a resume, within the session's byte limit; past it, to the fallback. */
  private hold(session: Session, entry: OutboundEntry): void {
    const size = entry.payload.length;
    if (session.pending.length > 0 && session.pendingBytes + size > this.o.maxBufferedBytes) {
      this.undeliverable(entry.raw, 'session_overflow', true);
      return;
    }
    session.pending.push(entry);
    session.pendingBytes += size;
  }

  /** Counts the reason, then drops or dead-letters per the fallback (`always` dead-letters regardless). */
  private undeliverable(raw: Buffer, reason: UndeliverableReason, always = false): void {
    this.o.metrics.undeliverable.inc({ reason });
    if (always || this.o.fallback === 'dead-letter') this.o.finisher.deadLetter(raw, reason);
    else this.o.finisher.delivered(raw);
  }
}
