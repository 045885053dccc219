import type { DataClient } from '../redis/data-connection.js';
import type { Keys } from '../redis/keys.js';
import { redisTimeMs } from '../redis/server-time.js';

/** How often a process refreshes its entry, unless it says otherwise (a dispatcher: REDISPATCH_HEARTBEAT_MS). */
export const ENDPOINT_REFRESH_MS = 2_000;
/**
 * An entry not refreshed for this many of its own refresh intervals belongs to a process that is
 * gone (or cut off): not shown. One rule for every role (10 s at the default 2 s, 5 s for a
 * dispatcher at the default 1 s heartbeat).
 */
export const ENDPOINT_STALE_REFRESHES = 5;
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
  /** A dispatcher's place in the election and its standby buffer (absent for other roles). */
  dispatcher?: DispatcherDetails;
}

/** What a dispatcher adds to its entry, as of its last refresh. */
export interface DispatcherDetails {
  /** `leader`, `standby`, or the lifecycle state it is passing through (`starting`, `stopping`). */
  state: string;
  /** A standby whose buffer provably holds everything the leader has not written (a leader: true). */
  caughtUp: boolean;
  /** Messages in its standby buffer (a leader: 0). */
  buffered: number;
}

/** One dispatcher as `stats --json` lists it in `dispatchers` (derived from its entry). Extend only. */
export interface DispatcherStatus {
  id: string;
  role: string;
  caughtUp: boolean;
  buffered: number;
  host: string;
  pid: number;
}

export interface EndpointAnnouncement {
  id: string;
  role: string;
  host: string;
  pid: number;
  metrics: string | null;
}

export interface AnnouncerOptions {
  /** Refresh interval; ENDPOINT_REFRESH_MS when not given. */
  refreshMs?: number;
  /** Read at every refresh: a dispatcher's current details. */
  details?: () => DispatcherDetails;
}

/** The stored JSON of one entry. */
interface StoredEntry extends EndpointAnnouncement {
  seenMs: number;
  refreshMs: number;
  dispatcher?: DispatcherDetails;
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
  private closed = false;
  /** The refresh on the wire, so close() deletes after it and not before (which would leave the entry). */
  private inFlight: Promise<void> | undefined;
  private readonly refreshMs: number;

  constructor(
    private readonly client: DataClient,
    private readonly keys: Keys,
    private readonly entry: EndpointAnnouncement,
    private readonly onError: (error: unknown) => void,
    private readonly options: AnnouncerOptions = {},
  ) {
    this.refreshMs = options.refreshMs ?? ENDPOINT_REFRESH_MS;
  }

  start(): void {
    if (this.closed) return;
    const tick = () => {
      this.inFlight = this.refresh();
      void this.inFlight.finally(() => {
        this.inFlight = undefined;
        if (this.timer) this.timer = setTimeout(tick, this.refreshMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  /** Stops refreshing and deletes the entry, so a clean stop leaves `stats` at once. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    await this.client.hdel(this.keys.endpoints, this.entry.id).catch(() => {});
  }

  private async refresh(): Promise<void> {
    try {
      const now = await redisTimeMs(this.client);
      if (this.closed) return;
      const stored: StoredEntry = {
        ...this.entry,
        seenMs: now,
        refreshMs: this.refreshMs,
        ...(this.options.details ? { dispatcher: this.options.details() } : {}),
      };
      await this.client.hset(this.keys.endpoints, this.entry.id, JSON.stringify(stored));
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

function parseDetails(value: unknown): DispatcherDetails | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const details = value as Partial<DispatcherDetails>;
  if (typeof details.state !== 'string') return undefined;
  return {
    state: details.state,
    caughtUp: details.caughtUp === true,
    buffered: Number(details.buffered ?? 0),
  };
}

function parseEntry(raw: string): StoredEntry | undefined {
  try {
    const value = JSON.parse(raw) as Partial<StoredEntry>;
    if (typeof value.seenMs !== 'number' || typeof value.role !== 'string') return undefined;
    const dispatcher = parseDetails(value.dispatcher);
    return {
      id: String(value.id ?? ''),
      role: value.role,
      host: String(value.host ?? ''),
      pid: Number(value.pid ?? 0),
      metrics: typeof value.metrics === 'string' ? value.metrics : null,
      seenMs: value.seenMs,
      // Entries of versions that did not record it refreshed at the default interval.
      refreshMs:
        typeof value.refreshMs === 'number' && value.refreshMs > 0 ? value.refreshMs : ENDPOINT_REFRESH_MS,
      ...(dispatcher ? { dispatcher } : {}),
    };
  } catch {
    return undefined;
  }
}

const leaderRank = (p: ProcessEndpoint) => (p.dispatcher?.state === 'leader' ? 0 : 1);

/**
 * The live processes of the deployment (refreshed within ENDPOINT_STALE_REFRESHES of their own
 * intervals), by role, the leader first among the dispatchers, then by id. Read-only.
 */
export function endpointsFrom(hash: Record<string, string>, nowMs: number): ProcessEndpoint[] {
  const live: ProcessEndpoint[] = [];
  for (const [id, raw] of Object.entries(hash)) {
    const entry = parseEntry(raw);
    if (!entry) continue;
    const seenAgeMs = Math.max(0, nowMs - entry.seenMs);
    if (seenAgeMs > ENDPOINT_STALE_REFRESHES * entry.refreshMs) continue;
    const { role, host, pid, metrics, dispatcher } = entry;
    live.push({ id, role, host, pid, metrics, seenAgeMs, ...(dispatcher ? { dispatcher } : {}) });
  }
  return live.sort(
    (a, b) => a.role.localeCompare(b.role) || leaderRank(a) - leaderRank(b) || a.id.localeCompare(b.id),
  );
}

/** The dispatchers among the live processes (leader first), as `stats --json` lists them. */
export function dispatchersFrom(processes: readonly ProcessEndpoint[]): DispatcherStatus[] {
  return processes
    .filter((p) => p.dispatcher !== undefined)
    .map((p) => ({
      id: p.id,
      role: p.dispatcher?.state ?? '',
      caughtUp: p.dispatcher?.caughtUp ?? false,
      buffered: p.dispatcher?.buffered ?? 0,
      host: p.host,
      pid: p.pid,
    }))
    .sort(
      (a, b) => (a.role === 'leader' ? 0 : 1) - (b.role === 'leader' ? 0 : 1) || a.id.localeCompare(b.id),
    );
}
