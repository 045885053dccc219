import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isSessionId, type Logger, newSessionId, relayAddress } from '@redispatch/shared';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { FramePublisher } from './frame-publisher.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { ReplyRouter } from './reply-router.js';
import type { Session, SessionRegistry } from './session-registry.js';

/** Response header carrying the session id of a new connection (resume with `?session=<id>`). */
export const SESSION_HEADER = 'x-redispatch-session';

export interface SocketGatewayOptions {
  host: string;
  port: number;
  relayId: string;
  /** Largest inbound frame; larger ones close the socket with 1009. */
  maxPayload: number;
  sessions: SessionRegistry;
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

function refuse(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * The WebSocket side of the relay. A client connecting to `/` gets a new session (its id in the
 * `x-redispatch-session` response header); `/?session=<id>` resumes a session this relay holds
 * (after a network drop or a relay restart) and receives the replies that waited for it. Each
 * inbound frame is published, byte-exact, in an envelope whose reply address names this relay and
 * the session.
 */
export class SocketGateway {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly assigned = new WeakMap<IncomingMessage, string>();
  private accepting = true;

  constructor(private readonly o: SocketGatewayOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload, clientTracking: true });
    this.wss.on('headers', (headers, request) => {
      const id = this.assigned.get(request);
      if (id) headers.push(`${SESSION_HEADER}: ${id}`);
    });
    this.server = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
    });
    this.server.on('upgrade', (request, socket: Socket, head) => this.upgrade(request, socket, head));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
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

  /** Closes every socket with 1001 (going away), terminating those that do not finish within `timeoutMs`. */
  async closeSockets(timeoutMs: number): Promise<void> {
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

  private upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    if (!this.accepting) {
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://relay');
    const resume = url.searchParams.get('session');
    if (resume !== null && !(isSessionId(resume) && this.o.sessions.get(resume))) {
      refuse(socket, 404, 'Unknown Session');
      return;
    }
    const id = resume ?? newSessionId();
    this.assigned.set(request, id);
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      let session = this.o.sessions.get(id);
      if (session) {
        this.o.sessions.resume(session, ws);
        this.o.router.flushPending(session);
      } else {
        session = this.o.sessions.open(ws, id);
      }
      this.bind(ws, session);
    });
  }

  private bind(ws: WebSocket, session: Session): void {
    const replyTo = relayAddress(this.o.relayId, session.id);
    const m = this.o.metrics;
    ws.on('message', (data, _isBinary) => {
      const body = toBuffer(data);
      session.awaiting += 1;
      // After the session is recorded (so a restart can resume it), in arrival order.
      session.ready
        .then(() => this.o.publisher.publish(body, replyTo))
        .then(
          (heard) => {
            m.frames.inc({ outcome: heard ? 'published' : 'unrouted' });
            if (!heard) session.awaiting = Math.max(0, session.awaiting - 1);
          },
          (error: unknown) => {
            m.frames.inc({ outcome: 'failed' });
            session.awaiting = Math.max(0, session.awaiting - 1);
            this.o.log.warn({ err: error, session: session.id }, 'publishing an inbound frame failed');
          },
        );
    });
    ws.on('close', () => this.o.sessions.detach(session, ws));
    ws.on('error', (error) => this.o.log.debug({ err: error, session: session.id }, 'socket error'));
  }
}
