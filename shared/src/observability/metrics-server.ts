import { createServer, type Server } from 'node:http';
import { capConnections, HARDENED_SERVER_OPTIONS } from './harden-http-server.js';

/** Open connections a metrics endpoint accepts (plus headroom): scrapers and probes need few. */
const METRICS_MAX_CONNECTIONS = 256;

import type { AddressInfo } from 'node:net';

import { collectDefaultMetrics, Registry } from 'prom-client';
import { ConfigError } from '../errors.js';

/** What `/readyz` reports: ready or not, and why, for people reading probes. */
export interface Readiness {
  ready: boolean;
  state: string;
}

export interface MetricsServerOptions {
  port: number;
  host: string;
  registry: Registry;
  readiness: () => Readiness;
  /**
   * What to do when `port` is taken: `free-port` (the port is only a default) listens on a port the
   * OS picks instead, so many processes on one host all come up; `fail` (the user chose the port)
   * throws a ConfigError naming REDISPATCH_METRICS_PORT.
   * @default 'fail'
   */
  whenTaken?: 'free-port' | 'fail';
}

/** A process's registry, with Node's default process metrics (CPU, memory, event loop, GC). */
export function createRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** `/healthz` fails when the event loop has been stuck this long: the process is alive but not turning. */
const STALL_LIMIT_MS = 5_000;

/**
 * Serves `/metrics`, `/healthz` (alive: the event loop turns) and `/readyz` (ready for traffic).
 * Port 0 picks a free port; read `port` after `listen()`.
 */
export class MetricsServer {
  private readonly server: Server;
  private lastTick = Date.now();
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly options: MetricsServerOptions) {
    this.ticker = setInterval(() => {
      this.lastTick = Date.now();
    }, 500);
    this.ticker.unref();
    this.server = createServer(HARDENED_SERVER_OPTIONS, (request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        this.options.registry
          .metrics()
          .then((body) => {
            response.writeHead(200, { 'content-type': this.options.registry.contentType });
            response.end(body);
          })
          .catch((error: Error) => {
            response.writeHead(500, { 'content-type': 'text/plain' });
            response.end(error.message);
          });
        return;
      }
      if (path === '/healthz') {
        const stalledMs = Date.now() - this.lastTick;
        const alive = stalledMs < STALL_LIMIT_MS;
        response.writeHead(alive ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ alive, stalledMs }));
        return;
      }
      if (path === '/readyz') {
        const readiness = this.options.readiness();
        response.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify(readiness));
        return;
      }
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found: try /metrics, /healthz or /readyz\n');
    });
    // Scrapers and probes: a handful of connections; a flood of idle ones is refused.
    capConnections(this.server, METRICS_MAX_CONNECTIONS);
  }

  get port(): number {
    const address = this.server.address() as AddressInfo | null;
    return address?.port ?? -1;
  }

  /** Listens and returns the bound port (see `whenTaken` for a port that is in use). */
  async listen(): Promise<number> {
    try {
      await this.listenOn(this.options.port);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || this.options.port === 0) throw error;
      if (this.options.whenTaken !== 'free-port') {
        throw new ConfigError([
          `REDISPATCH_METRICS_PORT (--metrics-port) ${this.options.port} is already in use on ${this.options.host}; choose a free port, 0 for any free port, or -1 to disable the metrics server`,
        ]);
      }
      await this.listenOn(0);
    }
    return this.port;
  }

  /** `host:port` where the server can be reached: a wildcard bind is shown as this host's name. */
  address(hostName: string): string {
    const host = ['0.0.0.0', '::', ''].includes(this.options.host) ? hostName : this.options.host;
    return `${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  private listenOn(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
