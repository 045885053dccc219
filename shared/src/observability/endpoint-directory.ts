import type { DataClient } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';

/** How often a process refreshes its entry. */
export const ENDPOINT_REFRESH_MS = 2_000;
/** An entry not refreshed for this long belongs to a process that is gone (or cut off): not shown. */
export const ENDPOINT_STALE_MS = 5 * ENDPOINT_REFRESH_MS;
/** Entries this old are deleted by any live process, so crashed processes do not pile up. */
const ENDPOINT_PRUNE_MS = 10 * 60_000;
/** Prune once every this many refreshes (one HGETALL of a small hash). */
const PRUNE_EVERY = 30;

/** One live process of the deployment, as `stats` shows it. A field of `stats --json`: extend only. */
export interface ProcessEndpoint {
  id: string;
  role: string;
  host: string;
  pid: number;
  /** `host:port` of its /metrics, /healthz and /readyz, or null when the metrics server is off. */
  metrics: string | null;
  /** Milliseconds since it last refreshed its entry (Redis server clock). */
  seenAgeMs: number;
}

export interface EndpointAnnouncement {
  id: string;
  role: string;
  host: string;
  pid: number;
  metrics: string | null;
}

async function serverNowMs(client: DataClient): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * Keeps this process's entry in `{prefix}:endpoints` fresh (server clock, so hosts' clocks do not
 * matter) and removes it on close. Failures never touch the service: the entry is informational, and
 * the next refresh tries again.
 */
export class EndpointAnnouncer {
  private timer: NodeJS.Timeout | undefined;
  private refreshes = 0;
  private failing = false;

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly entry: EndpointAnnouncement,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    const tick = () => {
      void this.refresh().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, ENDPOINT_REFRESH_MS).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.client.hdel(this.keys.endpoints, this.entry.id).catch(() => {});
  }

  private async refresh(): Promise<void> {
    try {
      const now = await serverNowMs(this.client);
      await this.client.hset(
        this.keys.endpoints,
        this.entry.id,
        JSON.stringify({ ...this.entry, seenMs: now }),
      );
      if (this.refreshes++ % PRUNE_EVERY === 0) await this.prune(now);
      this.failing = false;
    } catch (error) {
      // Said once per outage, not every refresh.
      if (!this.failing) this.onError(error);
      this.failing = true;
    }
  }

  private async prune(now: number): Promise<void> {
    const all = await this.client.hgetall(this.keys.endpoints);
    const old = Object.entries(all)
      .filter(([, raw]) => (parseEntry(raw)?.seenMs ?? 0) < now - ENDPOINT_PRUNE_MS)
      .map(([id]) => id);
    if (old.length > 0) await this.client.hdel(this.keys.endpoints, ...old);
  }
}

function parseEntry(raw: string): (EndpointAnnouncement & { seenMs: number }) | undefined {
  try {
    const value = JSON.parse(raw) as Partial<EndpointAnnouncement & { seenMs: number }>;
    if (typeof value.seenMs !== 'number' || typeof value.role !== 'string') return undefined;
    return {
      id: String(value.id ?? ''),
      role: value.role,
      host: String(value.host ?? ''),
      pid: Number(value.pid ?? 0),
      metrics: typeof value.metrics === 'string' ? value.metrics : null,
      seenMs: value.seenMs,
    };
  } catch {
    return undefined;
  }
}

/** The live processes of the deployment (refreshed within ENDPOINT_STALE_MS), by role then id. Read-only. */
export function endpointsFrom(hash: Record<string, string>, nowMs: number): ProcessEndpoint[] {
  const live: ProcessEndpoint[] = [];
  for (const [id, raw] of Object.entries(hash)) {
    const entry = parseEntry(raw);
    if (!entry) continue;
    const seenAgeMs = Math.max(0, nowMs - entry.seenMs);
    if (seenAgeMs > ENDPOINT_STALE_MS) continue;
    live.push({ id, role: entry.role, host: entry.host, pid: entry.pid, metrics: entry.metrics, seenAgeMs });
  }
  return live.sort((a, b) => a.role.localeCompare(b.role) || a.id.localeCompare(b.id));
}
