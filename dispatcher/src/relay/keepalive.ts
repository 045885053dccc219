import type { WebSocket } from 'ws';

/**
 * Pings every open socket and closes those that stay silent (no pong, no frame) for `idleMs`, so a
 * half-open connection (a vanished laptop, a dropped NAT mapping) does not hold a session forever.
 * A socket the relay itself stopped reading (flow control) is not judged: its pongs wait unread.
 */
export class Keepalive {
  private readonly heardAt = new WeakMap<WebSocket, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly idleMs: number,
    private readonly sockets: () => Iterable<WebSocket>,
    private readonly onIdle: (socket: WebSocket) => void,
  ) {}

  /** Starts watching `socket`: any pong or frame counts as hearing from it. */
  watch(socket: WebSocket): void {
    if (this.idleMs === 0) return;
    this.heard(socket);
    socket.on('pong', () => this.heard(socket));
    socket.on('message', () => this.heard(socket));
  }

  start(): void {
    if (this.idleMs === 0) return;
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.floor(this.idleMs / 3)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private heard(socket: WebSocket): void {
    this.heardAt.set(socket, Date.now());
  }

  private sweep(): void {
    const now = Date.now();
    for (const socket of this.sockets()) {
      if (socket.readyState !== socket.OPEN) continue;
      if (socket.isPaused) {
        this.heard(socket);
        continue;
      }
      if (now - (this.heardAt.get(socket) ?? now) >= this.idleMs) this.onIdle(socket);
      else socket.ping();
    }
  }
}
