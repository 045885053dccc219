import { decodeOutboundEntry, type Logger, type OutboundEntry, parseReplyAddress } from '@redispatch/shared';
import type { Finisher } from './finisher.js';
import type { RelayMetrics, UndeliverableReason } from './relay-metrics.js';
import type { Session, SessionRegistry } from './session-registry.js';

export interface ReplyRouterOptions {
  relayId: string;
  sessions: SessionRegistry;
  finisher: Finisher;
  metrics: RelayMetrics;
  log: Logger;
  /** What happens to a reply for a session this relay does not hold. */
  fallback: 'drop' | 'dead-letter';
  /** Replies queued longer ago than this (Redis time) are not delivered. */
  retentionMs: number;
}

/**
 * Routes the replies this relay takes from its outbound queue: to the session's open socket; into
 * the session's pending list while it is detached (its client may resume); else to the fallback.
 * An entry leaves the processing list only once written to a socket, dropped or dead-lettered.
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
    if (session.socket) this.send(session, entry);
    else session.pending.push(entry);
  }

  /** Sends what waited for a session that has just been resumed, in order. */
  flushPending(session: Session): void {
    const pending = session.pending;
    session.pending = [];
    for (const entry of pending) this.send(session, entry);
  }

  /** Replies whose session expired without a resume go to the fallback. */
  orphaned(entries: readonly OutboundEntry[]): void {
    for (const entry of entries) this.undeliverable(entry.raw, 'session_expired');
  }

  private send(session: Session, entry: OutboundEntry): void {
    const socket = session.socket;
    if (!socket) {
      session.pending.push(entry);
      return;
    }
    socket.send(entry.payload, { binary: !entry.text }, (error) => {
      if (error) {
        // The socket died under us: keep the reply for a resume (it is still in the processing list).
        session.pending.push(entry);
        return;
      }
      session.awaiting = Math.max(0, session.awaiting - 1);
      this.o.metrics.delivered.inc();
      this.o.metrics.deliveryLatency.observe(
        { target: 'websocket' },
        Math.max(0, Date.now() - entry.enqueuedAt) / 1000,
      );
      this.o.finisher.delivered(entry.raw);
    });
  }

  /** Counts the reason, then drops or dead-letters per the fallback (`always` dead-letters regardless). */
  private undeliverable(raw: Buffer, reason: UndeliverableReason, always = false): void {
    this.o.metrics.undeliverable.inc({ reason });
    if (always || this.o.fallback === 'dead-letter') this.o.finisher.deadLetter(raw, reason);
    else this.o.finisher.delivered(raw);
  }
}
