import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  capConnections,
  HARDENED_SERVER_OPTIONS,
  type Logger,
  newSessionId,
  relayAddress,
} from '@redispatch/shared';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { type Admission, type AdmissionPolicy, admit, SESSION_PROTOCOL } from './admission.js';
import type { FramePublisher } from './frame-publisher.js';
import { Keepalive } from './keepalive.js';
import type { RefusalReason, RelayMetrics } from './relay-metrics.js';
import type { ReplyBinding } from './reply-binding.js';
import type { ReplyRouter } from './reply-router.js';
import { newResumeSecret } from './resume-secret.js';
import type { FlowState } from './session-flow.js';
import type { Session, SessionRegistry } from './session-registry.js';

/** Response header carrying the session id of a new connection (its routing id, not a credential). */
export const SESSION_HEADER = 'x-redispatch-session';
/** Response header carrying a new session's resume secret: shown once, kept by the relay only as a hash. */
export const RESUME_SECRET_HEADER = 'x-redispatch-resume';
/** Close code for a socket silent past REDISPATCH_RELAY_IDLE_MS. */
export const IDLE_CLOSE = 4009;

export interface SocketGatewayOptions {
  host: string;
  port: number;
  relayId: string;
  /** Largest inbound frame; larger ones close the socket with 1009. */
  maxPayload: number;
  maxConnections: number;
  idleMs: number;
  /** wss:// when set: PEM certificate chain and key. */
  tls: { cert: Buffer; key: Buffer } | undefined;
  admission: AdmissionPolicy;
  sessions: SessionRegistry;
  binding: ReplyBinding;
  router: ReplyRouter;
  publisher: FramePublisher;
  metrics: RelayMetrics;
  log: Logger;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** How long a refused client gets to read its answer before its socket is destroyed. */
const REFUSE_LINGER_MS = 1_000;
/** How often held sessions are re-checked (pending frames that timed out, rate tokens refilled). */
const FLOW_TICK_MS = 250;

/** What a new or resumed connection is told, per the handshake's results. */
interface Assigned {
  session: string;
  secret: string | undefined;
}

/**
 * The WebSocket side of the relay. A client connecting to `/` gets a new session: its routing id in
 * the `x-redispatch-session` response header and a resume secret in `x-redispatch-resume` (a browser
 * offering the `redispatch.v1` subprotocol gets both in a first text frame instead). `/?session=<id>`
 * with the secret (header, or a `redispatch.resume.<secret>` subprotocol) resumes a session this relay
 * holds and receives the replies that waited for it. Each inbound frame is published, byte-exact, in
 * an envelope whose reply address names this relay, the session, and a binding for that frame.
 */
export class SocketGateway {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly assigned = new WeakMap<IncomingMessage, Assigned>();
  private readonly keepalive: Keepalive;
  private readonly holdTimers = new Map<Session, NodeJS.Timeout>();
  private readonly flowTimer: NodeJS.Timeout;
  private upgrading = 0;
  private accepting = true;

  constructor(private readonly o: SocketGatewayOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxPayload,
      clientTracking: true,
      handleProtocols: (protocols) => (protocols.has(SESSION_PROTOCOL) ? SESSION_PROTOCOL : false),
    });
    this.wss.on('headers', (headers, request) => {
      const assigned = this.assigned.get(request);
      if (!assigned) return;
      headers.push(`${SESSION_HEADER}: ${assigned.session}`);
      if (assigned.secret) headers.push(`${RESUME_SECRET_HEADER}: ${assigned.secret}`);
    });
    const onRequest = (_request: IncomingMessage, response: import('node:http').ServerResponse) => {
      response.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
    };
    this.server = o.tls
      ? createHttpsServer({ ...HARDENED_SERVER_OPTIONS, cert: o.tls.cert, key: o.tls.key }, onRequest)
      : createHttpServer(HARDENED_SERVER_OPTIONS, onRequest);
    capConnections(this.server, o.maxConnections);
    this.server.on('upgrade', (request, socket: Socket, head) => void this.upgrade(request, socket, head));
    this.keepalive = new Keepalive(
      o.idleMs,
      () => this.wss.clients,
      (ws) => {
        this.refused('idle');
        ws.close(IDLE_CLOSE, 'idle');
        setTimeout(() => ws.terminate(), REFUSE_LINGER_MS).unref();
      },
    );
    this.flowTimer = setInterval(() => this.tickFlow(), FLOW_TICK_MS);
    this.flowTimer.unref();
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        this.keepalive.start();
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  get openSockets(): number {
    return this.wss.clients.size;
  }

  /** New connections are refused (503) from now on; open sockets stay. */
  stopAccepting(): void {
    this.accepting = false;
    this.server.close();
  }

  /** A reply released one of the session's pending frames: it may be read again. */
  replied(session: Session, nonce: string): void {
    this.flowChanged(session, session.flow.replied(nonce));
  }

  /** Closes every socket with 1001 (going away), terminating those that do not finish within `timeoutMs`. */
  async closeSockets(timeoutMs: number): Promise<void> {
    this.keepalive.stop();
    clearInterval(this.flowTimer);
    for (const timer of this.holdTimers.values()) clearTimeout(timer);
    const clients = [...this.wss.clients];
    const closed = clients.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(1001, 'relay shutting down');
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private async upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // A client may reset the connection at any point; without a listener that error kills the process.
    socket.on('error', (error) => this.o.log.debug({ err: error }, 'upgrade socket error'));
    if (!this.accepting) return this.refuse(socket, 503, 'Service Unavailable', 'draining');
    if (this.wss.clients.size + this.upgrading >= this.o.maxConnections)
      return this.refuse(socket, 503, 'Service Unavailable', 'connection_limit');
    this.upgrading += 1;
    let admission: Admission;
    try {
      admission = await admit(this.o.admission, request);
    } finally {
      this.upgrading -= 1;
    }
    if (admission.kind === 'refused') {
      if (admission.error !== undefined) this.o.log.warn({ err: admission.error }, 'relay auth hook failed');
      return this.refuse(socket, admission.status, admission.text, admission.reason);
    }
    if (socket.destroyed || !this.accepting) return void socket.destroy();
    const secret = admission.kind === 'new' ? newResumeSecret() : undefined;
    const id = admission.kind === 'resume' ? admission.session.id : newSessionId();
    this.assigned.set(request, { session: id, secret: secret?.secret });
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      let session: Session;
      if (admission.kind === 'resume') {
        session = admission.session;
        session.identity ??= admission.identity;
        this.o.sessions.resume(session, ws);
      } else {
        const opened = this.o.sessions.open(ws, id, secret?.hash ?? '', admission.identity);
        this.o.router.orphaned(opened.evicted);
        session = opened.session;
      }
      // A browser cannot read response headers: with the subprotocol it asked for, say it in-band first.
      if (ws.protocol === SESSION_PROTOCOL)
        ws.send(JSON.stringify({ type: 'session', session: id, resume: secret?.secret ?? null }));
      this.bind(ws, session);
      if (admission.kind === 'resume') this.o.router.flushPending(session);
    });
  }

  private bind(ws: WebSocket, session: Session): void {
    this.keepalive.watch(ws);
    ws.on('message', (data) => {
      session.inbox.push(toBuffer(data));
      this.pump(session);
    });
    ws.on('close', () => {
      clearTimeout(this.holdTimers.get(session));
      this.holdTimers.delete(session);
      this.o.sessions.detach(session, ws);
    });
    ws.on('error', (error) => this.o.log.debug({ err: error, session: session.id }, 'socket error'));
    // A resumed session may still be held: its new socket is read only when the flow allows.
    this.flowChanged(session, session.flow.state);
  }

  /** Publishes what the session has read, in order, while its flow allows; holds the rest. */
  private pump(session: Session): void {
    while (session.inbox.length > 0 && session.flow.state === 'reading') {
      const body = session.inbox.shift() as Buffer;
      this.publishFrame(session, body);
    }
    this.applyFlow(session, session.flow.state);
  }

  private publishFrame(session: Session, body: Buffer): void {
    const m = this.o.metrics;
    const { binding, nonce } = this.o.binding.mint(session.id);
    const replyTo = relayAddress(this.o.relayId, session.id, binding);
    session.flow.frameIn(nonce);
    // After the session is recorded (so a restart can resume it), in arrival order.
    session.ready
      .then(() => this.o.publisher.publish(body, replyTo, session.identity))
      .then(
        (heard) => {
          m.frames.inc({ outcome: heard ? 'published' : 'unrouted' });
          if (!heard) this.flowChanged(session, session.flow.frameDropped(nonce));
        },
        (error: unknown) => {
          m.frames.inc({ outcome: 'failed' });
          this.flowChanged(session, session.flow.frameDropped(nonce));
          this.o.log.warn({ err: error, session: session.id }, 'publishing an inbound frame failed');
        },
      );
  }

  /** The session's flow state changed: publish what it may, and read its socket (or stop). */
  private flowChanged(session: Session, state: FlowState): void {
    if (state === 'reading' && session.inbox.length > 0) this.pump(session);
    else this.applyFlow(session, state);
  }

  /** Pauses or resumes reading the session's socket per its flow state. */
  private applyFlow(session: Session, state: FlowState): void {
    const ws = session.socket;
    if (!ws || ws.readyState !== ws.OPEN) return;
    if (state === 'reading') {
      if (ws.isPaused) ws.resume();
      return;
    }
    if (!ws.isPaused) {
      ws.pause();
      this.refused(state === 'held-pending' ? 'held_pending' : 'held_rate');
    }
    if (state === 'held-rate' && !this.holdTimers.has(session)) {
      const timer = setTimeout(() => {
        this.holdTimers.delete(session);
        this.flowChanged(session, session.flow.tick());
      }, session.flow.msUntilToken());
      this.holdTimers.set(session, timer);
    }
  }

  private tickFlow(): void {
    for (const session of this.o.sessions.all())
      if (session.socket?.isPaused || session.flow.pendingCount > 0 || session.inbox.length > 0)
        this.flowChanged(session, session.flow.tick());
  }

  private refused(reason: RefusalReason): void {
    this.o.metrics.refused.inc({ reason });
  }

  private refuse(socket: Socket, status: number, text: string, reason: RefusalReason): void {
    this.refused(reason);
    if (socket.destroyed) return;
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), REFUSE_LINGER_MS).unref();
  }
}
