import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One direction of a proxied connection: chunks wait here for their latency or while stalled. */
interface Pipe {
  /** 'up': client to server; 'down': server to client. */
  direction: 'up' | 'down';
  to: Socket;
  queue: { data: Buffer; due: number }[];
  timer: NodeJS.Timeout | undefined;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  pipes: Pipe[];
}

/**
 * A loopback TCP proxy in front of one server, for link faults a real network has: added latency,
 * a stall (bytes held, then delivered late or dropped), and a cut (every socket reset, new connections
 * refused for a while). Order within each direction is always kept, as TCP would.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private latencyMs = 0;
  private stalled: 'none' | 'up' | 'both' = 'none';
  private refuseUntil = 0;
  /** Connections accepted and refused so far (for the report). */
  accepted = 0;
  refused = 0;
  port = 0;
  private watched: Buffer | undefined;
  /** How often the watched byte pattern came back from the server since `watchReplies`. */
  watchedReplies = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  async start(): Promise<this> {
    const server = createServer((client) => this.onConnection(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  /** Delays every chunk in both directions by `ms` from now on (0 = none). */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /**
   * Counts occurrences of `pattern` in what the server sends back from now on (e.g. a script's fenced
   * reply `*1\r\n:-1\r\n`). A pattern split across two chunks is missed: the count is a lower bound.
   */
  watchReplies(pattern: Buffer): void {
    this.watched = pattern;
    this.watchedReplies = 0;
  }

  /**
   * Holds every byte (the link is silent, nothing is reset): in both directions, or only what the
   * client sends (`'up'`: its requests pile up while replies and pub/sub messages still arrive).
   */
  stall(direction: 'up' | 'both' = 'both'): void {
    this.stalled = direction;
  }

  /** Delivers what a stall held, late, and forwards again. */
  resume(): void {
    this.stalled = 'none';
    for (const pair of this.pairs) for (const pipe of pair.pipes) this.pump(pipe);
  }

  /**
   * Resets every connection (what a stall held is dropped) and refuses new ones for `refuseMs`;
   * a stall ends with it.
   */
  cut(refuseMs: number): void {
    this.refuseUntil = performance.now() + refuseMs;
    this.stalled = 'none';
    for (const pair of [...this.pairs]) this.destroy(pair);
  }

  async close(): Promise<void> {
    this.refuseUntil = Number.POSITIVE_INFINITY;
    for (const pair of [...this.pairs]) this.destroy(pair);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private onConnection(client: Socket): void {
    if (performance.now() < this.refuseUntil) {
      this.refused += 1;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    this.accepted += 1;
    const upstream = connect(this.targetPort, this.targetHost);
    const toUpstream: Pipe = { direction: 'up', to: upstream, queue: [], timer: undefined };
    const toClient: Pipe = { direction: 'down', to: client, queue: [], timer: undefined };
    const pair: Pair = { client, upstream, pipes: [toUpstream, toClient] };
    this.pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (data: Buffer) => this.push(toUpstream, data));
    upstream.on('data', (data: Buffer) => {
      this.count(data);
      this.push(toClient, data);
    });
    const end = () => this.destroy(pair);
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  private count(data: Buffer): void {
    const pattern = this.watched;
    if (!pattern) return;
    for (let at = data.indexOf(pattern); at >= 0; at = data.indexOf(pattern, at + pattern.length))
      this.watchedReplies += 1;
  }

  private push(pipe: Pipe, data: Buffer): void {
    pipe.queue.push({ data, due: performance.now() + this.latencyMs });
    this.pump(pipe);
  }

  private pump(pipe: Pipe): void {
    clearTimeout(pipe.timer);
    pipe.timer = undefined;
    if (this.stalled === 'both' || (this.stalled === 'up' && pipe.direction === 'up')) return;
    const now = performance.now();
    while (pipe.queue.length > 0) {
      const head = pipe.queue[0] as { data: Buffer; due: number };
      if (head.due > now) {
        pipe.timer = setTimeout(() => this.pump(pipe), Math.ceil(head.due - now));
        return;
      }
      pipe.queue.shift();
      if (!pipe.to.destroyed) pipe.to.write(head.data);
    }
  }

  private destroy(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    for (const pipe of pair.pipes) {
      clearTimeout(pipe.timer);
      pipe.queue = [];
    }
    for (const socket of [pair.client, pair.upstream]) {
      if (!socket.destroyed) socket.resetAndDestroy();
    }
  }
}
