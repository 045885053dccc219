import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Config,
  capConnections,
  HARDENED_SERVER_OPTIONS,
  isCluster,
  type Logger,
} from '@redispatch/shared';
import type { AdminScope } from '../cli/admin-connection.js';
import { SnapshotReader } from './console-snapshot.js';
import { checkedId, listDlq, purgeDlq, replayDlq, selectionOf, showDlq } from './dlq-api.js';
import { EventStream } from './event-stream.js';
import { HttpError, requireToken, sendBytes, sendError, sendJson } from './http-io.js';
import { lookUpListsMessage } from './message-lookup.js';
import { listOutboundDlq, purgeOutboundDlq } from './outbound-api.js';
import { loadStaticSite, type StaticSite } from './static-files.js';
import { lookUpStreamsMessage } from './stream-message-lookup.js';

/** Connections one console holds: operators' pages, scripts, and their event streams. */
const MAX_CONNECTIONS = 256;

export interface ConsoleServerOptions {
  config: Config;
  scope: AdminScope;
  logger: Logger;
}

type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rest: string,
) => Promise<unknown> | undefined;

interface Route {
  method: 'GET' | 'POST';
  /** Exact path, or a prefix ending in `/` whose remainder is passed as `rest` (one segment). */
  path: string;
  handle: Handler;
}

/**
 * `redispatch console`: the page and the admin API over one admin connection. GETs read; every
 * POST needs the bearer token (no cookies are used, so a page elsewhere cannot act through a
 * browser's session). Answers are JSON; errors are `{error}` with one line.
 */
export class ConsoleServer {
  private readonly server: Server;
  private readonly site: StaticSite;
  private readonly reader: SnapshotReader;
  private readonly events: EventStream;
  private readonly routes: Route[];

  constructor(private readonly options: ConsoleServerOptions) {
    const { config, scope, logger } = options;
    this.site = loadStaticSite();
    this.reader = new SnapshotReader(config, scope);
    this.events = new EventStream(new SnapshotReader(config, scope), logger);
    const token = config.consoleToken;
    const act =
      (run: (req: IncomingMessage) => Promise<unknown>): Handler =>
      async (req) => {
        requireToken(req, token);
        return run(req);
      };
    this.routes = [
      {
        method: 'GET',
        path: '/api/console',
        handle: async () => ({ mode: config.mode, prefix: config.prefix, readOnly: token === undefined }),
      },
      { method: 'GET', path: '/api/stats', handle: () => this.reader.stats() },
      {
        method: 'GET',
        path: '/api/dlq',
        handle: async (_q, _s, url) => listDlq(config, scope, url.searchParams),
      },
      {
        method: 'GET',
        path: '/api/outbound-dlq',
        handle: async (_q, _s, url) => listOutboundDlq(config, scope, url.searchParams),
      },
      {
        method: 'POST',
        path: '/api/outbound-dlq/purge',
        handle: act(async (req) => purgeOutboundDlq(scope, await selectionOf(req))),
      },
      {
        method: 'POST',
        path: '/api/dlq/replay',
        handle: act(async (req) => replayDlq(config, scope, await selectionOf(req))),
      },
      {
        method: 'POST',
        path: '/api/dlq/purge',
        handle: act(async (req) => purgeDlq(config, scope, await selectionOf(req))),
      },
      { method: 'GET', path: '/api/dlq/', handle: async (_q, _s, _u, id) => showDlq(config, scope, id) },
      { method: 'GET', path: '/api/messages/', handle: async (_q, _s, _u, id) => this.lookUp(checkedId(id)) },
      {
        method: 'GET',
        path: '/api/events',
        handle: (req, res) => {
          this.events.open(req, res);
          return undefined;
        },
      },
    ];
    this.server = createServer(HARDENED_SERVER_OPTIONS, (req, res) => void this.serve(req, res));
    capConnections(this.server, MAX_CONNECTIONS);
  }

  async listen(): Promise<number> {
    const { consolePort, consoleHost } = this.options.config;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new Error(
                `REDISPATCH_CONSOLE_PORT (--console-port) ${consolePort} on ${consoleHost} is taken (EADDRINUSE)`,
              )
            : error,
        ),
      );
      this.server.listen(consolePort, consoleHost, () => {
        this.server.removeAllListeners('error');
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.events.close();
    this.server.closeIdleConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private lookUp(id: string) {
    const { config, scope } = this.options;
    if (config.mode === 'streams')
      return lookUpStreamsMessage(
        scope.client,
        scope.partitions,
        config.consumerGroup,
        config.ackTimeoutMs,
        id,
      );
    if (isCluster(scope.client)) throw new Error('lists mode reads a single Redis');
    return lookUpListsMessage(scope.client, scope.keys, id);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      const method = req.method ?? 'GET';
      // Browsers ask for it unprompted; there is none.
      if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
      const file = this.site.files.get(url.pathname);
      if (file) {
        if (method !== 'GET' && method !== 'HEAD') throw new MethodError(['GET']);
        const csp = url.pathname === '/' ? { 'content-security-policy': this.site.csp } : {};
        return sendBytes(res, file.type, file.body, csp);
      }
      // An exact path wins over a prefix (/api/dlq/replay is not the dead letter "replay").
      const exact = this.routes.filter((r) => r.path === url.pathname);
      const matches =
        exact.length > 0
          ? exact
          : this.routes.filter(
              (r) =>
                r.path.endsWith('/') &&
                url.pathname.startsWith(r.path) &&
                url.pathname.length > r.path.length,
            );
      if (matches.length === 0)
        throw new HttpError(404, `no such page or API route: ${url.pathname.slice(0, 100)}`);
      const route = matches.find((r) => r.method === method);
      if (!route) throw new MethodError([...new Set(matches.map((r) => r.method))]);
      const rest = route.path.endsWith('/') ? segment(url.pathname.slice(route.path.length)) : '';
      const result = await route.handle(req, res, url, rest);
      if (result !== undefined) sendJson(res, 200, result);
    } catch (error) {
      if (error instanceof MethodError) res.setHeader('allow', error.allowed.join(', '));
      if (!(error instanceof HttpError)) this.options.logger.warn({ err: error }, 'console: request failed');
      // A body refused half-read is not drained: the connection closes after the answer.
      if (error instanceof HttpError && error.status === 413 && !res.headersSent)
        res.setHeader('connection', 'close');
      if (res.headersSent) res.end();
      else sendError(res, error);
    }
  }
}

class MethodError extends HttpError {
  constructor(readonly allowed: string[]) {
    super(405, `method not allowed (use ${allowed.join(' or ')})`);
  }
}

/** One URL-encoded path segment (a message id may contain anything but control characters). */
function segment(encoded: string): string {
  if (encoded.includes('/')) throw new HttpError(404, 'no such API route (encode "/" in an id as %2F)');
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'the id is not valid percent-encoding');
  }
}
