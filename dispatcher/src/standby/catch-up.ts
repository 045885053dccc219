import { performance } from 'node:perf_hooks';
import type { DataClient, Keys, Logger } from '@redispatch/shared';
import type { DispatcherMetrics } from '../metrics.js';
import type { RoutingMode } from '../routing/routing-mode.js';
import { fingerprint } from './marker.js';
import type { ReplayBuffer } from './replay-buffer.js';

/**
 * After a subscription gap, a dispatcher that may have missed what another heard waits this many leases
 * (from its own resubscription) for the other to take over, then campaigns anyway: someone must lead.
 */
const GAP_DEFER_LEASES = 3;

/**
 * This process's subscription since it last dropped. A gap leaves a hole in the buffer, so "no marker
 * yet" or "the marker I trimmed through before" no longer prove anything: only a marker found in the
 * buffer after resubscribing (a leader wrote something this process also heard) ends it.
 *
 * When every dispatcher lost its subscription at once (a data Redis restart) they come back at
 * different times (reconnect backoff), and the first one back heard messages the others did not. It
 * must be the one to lead: a later one would never write them, and the others would trim them as soon
 * as its marker showed up. So each records (in `keys.resumed`) the fingerprint of the first message it
 * heard after the gap, and campaigns only once it has heard every other one's first message too (or
 * after GAP_DEFER_LEASES).
 */
type Subscription =
  | { kind: 'continuous' }
  | {
      kind: 'gap';
      /** When it dropped (performance.now()). */
      since: number;
      /** When it came back; undefined while it is down. */
      resubscribedAt: number | undefined;
      /** Fingerprint of the first message heard after the gap, once there was one. */
      firstAfterGap: string | undefined;
    };

/** Whether a standby may campaign now, given its subscription history. */
export type CampaignGate = 'go' | 'retry-soon' | 'wait-for-resubscribe';

export interface CatchUpOptions {
  id: string;
  redis: DataClient;
  keys: Keys;
  mode: RoutingMode;
  buffer: ReplayBuffer;
  metrics: DispatcherMetrics;
  log: Logger;
  leaseMs: number;
  pollMs: number;
  /** JetStream keeps what no leader took, so any standby can take over without a buffer. */
  bufferless: boolean;
  /** True while the standby is idle (not taking over, not leading, not stopping). */
  isIdleStandby: () => boolean;
}

/**
 * Proves a standby caught up: its buffer holds everything after the leader's progress marker (or
 * nothing was ever written). Only caught-up standbys campaign at full speed, so a freshly started
 * dispatcher, which missed what was published before it subscribed, does not win a takeover it
 * cannot replay. Also trims what the marker proves written and ages out the rest, every poll.
 */
export class CatchUp {
  caughtUp = false;
  /**
   * Whether this process has offered its first message as the deployment's first heard
   * (`keys.firstHeard`). Until a leader writes a progress marker, "no marker" alone proves nothing
   * to a dispatcher that subscribed late (a leader killed before its first write leaves what was
   * published meanwhile in the earlier standbys' buffers only): a standby is caught up then only if
   * its buffer holds the first message any dispatcher heard, or if none was heard yet.
   */
  private offeredFirstHeard = false;
  private subscription: Subscription = { kind: 'continuous' };
  private pollTimer: NodeJS.Timeout | undefined;
  private reportedEvictions = 0;

  constructor(private readonly options: CatchUpOptions) {}

  get inGap(): boolean {
    return this.subscription.kind !== 'continuous';
  }

  /** Every message heard (leading or not): the first-heard and first-after-gap bookkeeping. */
  heard(payload: Buffer): void {
    if (!this.offeredFirstHeard) {
      this.offeredFirstHeard = true;
      this.offerFirstHeard(fingerprint(payload));
    }
    const s = this.subscription;
    if (s.kind === 'gap' && s.firstAfterGap === undefined) {
      s.firstAfterGap = fingerprint(payload);
      void this.recordFirstAfterGap(s.firstAfterGap);
    }
  }

  /** The subscription dropped: this process's buffer has a hole. */
  subscriptionLost(): void {
    this.caughtUp = false;
    this.subscription = {
      kind: 'gap',
      since: performance.now(),
      resubscribedAt: undefined,
      firstAfterGap: undefined,
    };
  }

  /** Notes that the subscription is back; true the first time after a gap. */
  resubscribed(): boolean {
    const s = this.subscription;
    if (s.kind === 'continuous' || s.resubscribedAt !== undefined) return false;
    s.resubscribedAt = performance.now();
    return true;
  }

  /** Whether the subscription history lets this standby campaign now (see `Subscription`). */
  async gate(): Promise<CampaignGate> {
    const s = this.subscription;
    if (s.kind === 'continuous') return 'go';
    // Subscription still down: leading now would write only what it hears later, while others
    // already buffer what it missed. The resubscription schedules the next try.
    if (s.resubscribedAt === undefined) return 'wait-for-resubscribe';
    const waited = performance.now() - s.resubscribedAt;
    if (waited < GAP_DEFER_LEASES * this.options.leaseMs && !(await this.heardWhatOthersHeard(s.since)))
      return 'retry-soon';
    return 'go';
  }

  /** The gap is over (a marker matched after it, or this process takes over and replays). */
  endGap(): void {
    if (this.subscription.kind === 'continuous') return;
    this.subscription = { kind: 'continuous' };
    this.options.redis.hdel(this.options.keys.resumed, this.options.id).catch(() => {});
  }

  /** A standby drops what the leader's progress marker proves written, and ages out the rest. */
  startPolling(): void {
    this.pollTimer = setTimeout(async () => {
      if (this.options.isIdleStandby()) await this.poll();
      if (this.pollTimer) this.startPolling();
    }, this.options.pollMs);
  }

  stopPolling(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  async poll(): Promise<void> {
    const { mode, buffer, metrics, isIdleStandby } = this.options;
    try {
      const marker = await mode.readProgress();
      if (!isIdleStandby()) return;
      const s = this.subscription;
      if (this.options.bufferless) {
        this.caughtUp = true;
      } else if (s.kind !== 'continuous') {
        // A marker from before the gap (the old leader's last batch) proves nothing about after it.
        if (marker && buffer.trimThrough(marker, s.since) > 0) {
          this.caughtUp = true;
          this.endGap();
        }
      } else if (!marker) {
        const first = await this.options.redis.get(this.options.keys.firstHeard);
        if (!isIdleStandby()) return;
        this.caughtUp = first === null || buffer.heardSince(first, Number.NEGATIVE_INFINITY);
      } else if (buffer.trimThrough(marker) > 0 || buffer.trimmedThrough(marker)) {
        this.caughtUp = true;
      }
    } catch {
      // Keep everything: the buffer's own limits still bound it.
    }
    buffer.enforceLimits();
    metrics.standbyBuffer.set(buffer.size);
    metrics.standbyCaughtUp.set(this.caughtUp ? 1 : 0);
    metrics.standbyEvicted.inc(buffer.evicted - this.reportedEvictions);
    this.reportedEvictions = buffer.evicted;
  }

  /** Once per process: the deployment's first heard message, unless a dispatcher offered one already. */
  private offerFirstHeard(fingerprint: string): void {
    this.options.redis
      .set(this.options.keys.firstHeard, fingerprint, 'NX')
      .catch((error: unknown) =>
        this.options.log.warn({ err: error }, 'could not record the first message heard'),
      );
  }

  /** Records the first message heard after a gap, for the other dispatchers to compare with. */
  private async recordFirstAfterGap(fingerprint: string): Promise<void> {
    const { keys, id, leaseMs } = this.options;
    try {
      await this.withReadyConnection((redis) =>
        redis
          .multi()
          .hset(keys.resumed, id, fingerprint)
          .pexpire(keys.resumed, leaseMs * 10)
          .exec(),
      );
    } catch (error) {
      this.options.log.warn({ err: error }, 'could not record the first message heard after the gap');
    }
  }

  /**
   * True when this process heard, since its gap, the first message every other dispatcher heard after
   * its own gap: nobody holds anything it missed. Others' entries expire after 10 leases.
   */
  private async heardWhatOthersHeard(gapAt: number): Promise<boolean> {
    let firsts: Record<string, string>;
    try {
      firsts = await this.withReadyConnection((redis) => redis.hgetall(this.options.keys.resumed));
    } catch {
      return false;
    }
    for (const [id, fingerprint] of Object.entries(firsts)) {
      if (id === this.options.id) continue;
      if (!this.options.buffer.heardSince(fingerprint, gapAt)) return false;
    }
    return true;
  }

  /**
   * Runs `use` on the command connection, or on a fresh one while that one is still in its own
   * reconnect backoff: gap bookkeeping must happen now, not whenever that backoff ends.
   */
  private async withReadyConnection<T>(use: (redis: DataClient) => Promise<T>): Promise<T> {
    const { redis } = this.options;
    if (redis.status === 'ready') return use(redis);
    const fresh = redis.duplicate();
    fresh.on('error', () => {});
    try {
      await fresh.connect();
      return await use(fresh);
    } finally {
      fresh.disconnect();
    }
  }
}
