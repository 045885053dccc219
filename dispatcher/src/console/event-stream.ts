import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@redispatch/shared';
import type { SnapshotReader } from './console-snapshot.js';
import { COMMON_HEADERS, HttpError } from './http-io.js';

/** One snapshot a second, read once for every open page. */
export const SNAPSHOT_INTERVAL_MS = 1_000;
/** Open event streams one console serves (each is a page left open somewhere). */
export const MAX_EVENT_CLIENTS = 64;

/**
 * `GET /api/events`: server-sent events. One reader samples Redis once a second while at least one
 * page listens, and writes the same `snapshot` event to all of them (an `error` event when Redis
 * cannot be read, so the page says so instead of freezing).
 */
export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private reading = false;

  constructor(
    private readonly reader: SnapshotReader,
    private readonly logger: Logger,
  ) {}

  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= MAX_EVENT_CLIENTS)
      throw new HttpError(503, `too many open event streams (at most ${MAX_EVENT_CLIENTS})`);
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    req.socket.setTimeout(0);
    const drop = () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stop();
    };
    req.on('close', drop);
    res.on('error', drop);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), SNAPSHOT_INTERVAL_MS);
      void this.tick();
    }
  }

  /** Ends every stream (the console is closing). */
  close(): void {
    this.stop();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    // A slow Redis skips ticks rather than piling reads up.
    if (this.reading) return;
    this.reading = true;
    let frame: string;
    try {
      frame = `event: snapshot\ndata: ${JSON.stringify(await this.reader.read())}\n\n`;
    } catch (error) {
      const message = (error as Error).message.replace(/\s+/g, ' ').trim();
      this.logger.warn({ err: error }, 'console: could not read a snapshot');
      frame = `event: error\ndata: ${JSON.stringify({ error: `redis: ${message}` })}\n\n`;
    } finally {
      this.reading = false;
    }
    for (const res of this.clients) res.write(frame);
  }
}
