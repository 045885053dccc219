import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  type Config,
  closeQuietly,
  connectOrThrow,
  createConnection,
  createDataConnection,
  createKeys,
  type DataClient,
  type DispatcherPresence,
  dataSetting,
  dataTarget,
  FencedError,
  isCluster,
  type Keys,
  LeadershipLostError,
  type Logger,
  type Readiness,
  RedisUnavailableError,
  tlsSettingsFrom,
  validateLibraryOptions,
} from '@redispatch/shared';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createIngress } from './ingress/create-ingress.js';
import type { Deliver, Ingress } from './ingress/ingress.js';
import { PinnedSubscriber } from './ingress/pinned-subscriber.js';
import { LeaderLease } from './leadership/leader-lease.js';
import { createDispatcherMetrics, type DispatcherMetrics } from './metrics.js';
import { PresenceBeat } from './presence-beat.js';
import { Batcher } from './routing/batcher.js';
import { ListsMode } from './routing/lists/lists-mode.js';
import { EpochBehindError, type LeaderRouting, type RoutingMode } from './routing/routing-mode.js';
import { StreamsMode } from './routing/streams/streams-mode.js';
import { fingerprintOf, type Received, ReplayBuffer } from './standby/replay-buffer.js';
import { SubscriptionWatch } from './standby/subscription-watch.js';

/**
 * Lifecycle:
 * - `starting`: connecting; nothing is subscribed yet.
 * - `standby`: connected, campaigning for the lease every lease/4 (with jitter).
 * - `leading`: holds the lease and a fresh epoch; subscribed to the channel, writing batches, reaping.
 * - `stopping`: close() was called: intake stopped, the batch in hand is being flushed, the lease released.
 * - `stopped`: everything closed.
 * - `failed`: start() failed (e.g. Redis unreachable); close() still cleans up.
 */
export type DispatcherState = 'starting' | 'standby' | 'leading' | 'stopping' | 'stopped' | 'failed';

export type StepDownReason =
  | 'fenced'
  | 'renewal_failed'
  | 'lease_expired'
  | 'shutdown'
  | 'error'
  | 'ingress_lost';

const CONTROL_RESIGNED = 'resigned';
/**
 * After a subscription gap, a dispatcher that may have missed what another heard waits this many leases
 * (from its own resubscription) for the other to take over, then campaigns anyway: someone must lead.
 */
const GAP_DEFER_LEASES = 3;

export interface DispatcherOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
}

export class Dispatcher {
  state: DispatcherState = 'starting';
  epoch = 0;
  readonly id: string;
  private readonly config: Config;
  private readonly keys: Keys;
  private readonly log: Logger;
  private readonly metrics: DispatcherMetrics;
  private readonly redis: DataClient;
  /** A Redis; on a cluster, a subscription pinned to the node every dispatcher agrees on. */
  private readonly subscriber: Redis | PinnedSubscriber;
  private readonly lease: LeaderLease;
  private readonly mode: RoutingMode;
  private readonly subscriptionWatch: SubscriptionWatch;
  private readonly presence: PresenceBeat;
  private batcher: Batcher | undefined;
  private routing: LeaderRouting | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private reapTimer: NodeJS.Timeout | undefined;
  private campaignTimer: NodeJS.Timeout | undefined;
  private standbyTimer: NodeJS.Timeout | undefined;
  private readonly buffer: ReplayBuffer;
  private readonly ingress: Ingress;
  /** True between winning the lease and taking over intake (renewals must already run). */
  private electing = false;
  /**
   * A standby is caught up once its buffer provably holds everything after the leader's progress
   * marker (or nothing was ever written). Only caught-up standbys campaign at full speed, so a
   * freshly started dispatcher, which missed what was published before it subscribed, does not win
   * a takeover it cannot replay.
   */
  private caughtUp = false;
  /**
   * Whether this process has offered its first message as the deployment's first heard
   * (`keys.firstHeard`). Until a leader writes a progress marker, "no marker" alone proves nothing
   * to a dispatcher that subscribed late (a leader killed before its first write leaves what was
   * published meanwhile in the earlier standbys' buffers only): a standby is caught up then only if
   * its buffer holds the first message any dispatcher heard, or if none was heard yet.
   */
  private offeredFirstHeard = false;
  /**
   * Set when this process's subscription dropped: its buffer has a hole, so "no marker yet" or "the
   * marker I trimmed through before" no longer prove anything. Only a marker found in the buffer
   * after resubscribing (a leader wrote something this process also heard) makes it caught up again.
   */
  private subscriptionGap = false;
  /**
   * After a subscription gap: when every dispatcher lost its subscription at once (a data Redis
   * restart) they come back at different times (reconnect backoff), and the first one back heard
   * messages the others did not. It must be the one to lead: a later one would never write them, and
   * the others would trim them as soon as its marker showed up. So each records (in `keys.resumed`)
   * the fingerprint of the first message it heard after the gap, and campaigns only once it has heard
   * every other one's first message too (or after GAP_DEFER_LEASES).
   */
  private gapAt = 0;
  /** When the subscription came back (performance.now()); undefined while it is down. */
  private resubscribedAt: number | undefined;
  /** Fingerprint of the first message heard after the gap, once there was one. */
  private firstAfterGap: string | undefined;
  private sequence = 0;
  private closing: Promise<void> | undefined;
  private readonly listeners = new Set<(state: DispatcherState) => void>();

  /** `config` is loadConfig's; one built by hand is checked with the same schemas (ConfigError). */
  constructor(options: DispatcherOptions) {
    validateLibraryOptions('Dispatcher config', options.config);
    this.config = options.config;
    this.id = options.config.instanceId;
    this.keys = createKeys(this.config.prefix);
    this.log = options.logger.child({ component: 'dispatcher', instanceId: this.id });
    this.metrics = createDispatcherMetrics(options.registry);
    const tls = tlsSettingsFrom(this.config);
    const base = {
      url: this.config.redisUrl,
      clusterNodes: this.config.mode === 'streams' ? this.config.clusterNodes : undefined,
      clusterNatMap: this.config.clusterNatMap,
      tls,
      commandTimeoutMs: this.config.commandTimeoutMs,
    };
    this.redis = createDataConnection('command', { ...base, name: `rd-dispatcher-${this.id}` });
    this.subscriber = isCluster(this.redis)
      ? new PinnedSubscriber({
          cluster: this.redis,
          key: this.keys.epoch,
          url: this.config.redisUrl,
          tls,
          commandTimeoutMs: this.config.commandTimeoutMs,
          name: `rd-dispatcher-sub-${this.id}`,
        })
      : createConnection('subscriber', { ...base, name: `rd-dispatcher-sub-${this.id}` });
    if (this.config.mode === 'streams') {
      this.mode = new StreamsMode(this.redis, this.keys, this.config, this.metrics);
    } else if (isCluster(this.redis)) {
      throw new Error('lists mode runs on a single Redis (REDISPATCH_REDIS_URL), not a cluster');
    } else {
      this.mode = new ListsMode(this.redis, this.keys, this.config, this.metrics);
    }
    this.subscriptionWatch = new SubscriptionWatch(this.subscriber, () => {
      if (this.config.ingress === 'redis') this.onIngressLost();
    });
    this.presence = new PresenceBeat(
      this.redis,
      this.keys,
      this.config.heartbeatMs,
      () => this.presenceRecord(),
      this.log,
    );
    this.buffer = new ReplayBuffer({
      maxMessages: this.config.standbyBufferMax,
      maxBytes: this.config.standbyBufferBytes,
      maxAgeMs: this.config.standbyBufferAgeMs,
    });
    this.ingress = createIngress(this.config, this.subscriber, this.id);
    this.lease = new LeaderLease({
      lockUrls: this.config.lockUrls,
      // Streams mode on a cluster without REDISPATCH_LOCK_URLS: the lease lives on the cluster itself.
      lockCluster: this.config.lockUrls.length === 0 ? base : undefined,
      tls,
      resource: this.keys.leaseLock,
      leaseMs: this.config.leaseMs,
      name: `rd-dispatcher-${this.id}`,
    });
    if (this.config.tlsInsecure) {
      this.log.warn(
        'TLS certificate verification is DISABLED (REDISPATCH_TLS_INSECURE=true); never use this in production',
      );
    }
  }

  /** Readiness for /readyz: leading, or a connected standby ready to take over. */
  readiness(): Readiness {
    const connected =
      this.redis.status === 'ready' && this.subscriber.status === 'ready' && this.ingress.connected();
    const ready = connected && (this.state === 'leading' || this.state === 'standby');
    return { ready, state: this.state };
  }

  /** What `stats` shows of this dispatcher (written every REDISPATCH_HEARTBEAT_MS). */
  presenceRecord(): DispatcherPresence {
    const leading = this.state === 'leading';
    return {
      id: this.id,
      role: leading ? 'leader' : this.state,
      caughtUp: leading || this.caughtUp,
      buffered: leading ? 0 : this.buffer.size,
      host: hostname(),
      pid: process.pid,
    };
  }

  onStateChange(listener: (state: DispatcherState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    const settings = {
      url: this.config.redisUrl,
      clusterNodes: this.config.mode === 'streams' ? this.config.clusterNodes : undefined,
    };
    try {
      await connectOrThrow(
        this.redis,
        dataTarget(settings),
        dataSetting(settings),
        this.config.commandTimeoutMs * 5,
      );
      if (this.subscriber instanceof PinnedSubscriber) {
        try {
          await this.subscriber.connect();
        } catch (error) {
          throw new RedisUnavailableError(
            `${dataSetting(settings)}: cannot subscribe on ${this.subscriber.node || 'the cluster'}: ${(error as Error).message}`,
            { cause: error },
          );
        }
      } else {
        await connectOrThrow(
          this.subscriber,
          dataTarget(settings),
          dataSetting(settings),
          this.config.commandTimeoutMs * 5,
        );
      }
      await this.mode.prepare();
    } catch (error) {
      this.setState('failed');
      throw error;
    }
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.onControl(channel, message),
    );
    // Pub/sub keeps nothing for a disconnected subscriber: a leader whose subscription dropped has a
    // gap it cannot fill, but a standby that stayed connected can. Hand over so it replays the gap.
    this.subscriptionWatch.start();
    // ioredis emits 'ready' just before it re-sends the SUBSCRIBEs, so look on the next turn.
    this.subscriber.on('ready', () => {
      if (this.config.ingress === 'redis' && this.subscriptionGap)
        setImmediate(() => void this.afterResubscribe());
    });
    try {
      await this.ingress.connect();
    } catch (error) {
      this.setState('failed');
      throw error;
    }
    await this.subscriber.subscribe(this.keys.controlChannel);
    // At-most-once transports: standbys consume too; what they receive is buffered and replayed if
    // the leader dies with it unwritten. JetStream: only the leader consumes (it starts on election).
    if (this.ingress.consumers === 'all') await this.ingress.consume(this.deliver);
    this.setState('standby');
    await this.pollProgress();
    this.scheduleStandbyPoll();
    this.presence.start();
    this.log.info(
      { channel: this.config.channel, prefix: this.config.prefix, locks: this.config.lockUrls.length },
      'standby',
    );
    this.scheduleCampaign(this.caughtUp ? 0 : this.slowCampaignDelay());
  }

  /** Stops intake, flushes the batch in hand, releases the lease so a standby takes over at once. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasLeading = this.state === 'leading';
    this.setState('stopping');
    clearTimeout(this.campaignTimer);
    clearTimeout(this.standbyTimer);
    const steps: [string, () => Promise<unknown>][] = [
      ['stop intake', () => this.ingress.pause()],
      ['flush batch', () => this.batcher?.drain() ?? Promise.resolve()],
      ['step down', () => this.stepDown('shutdown')],
      [
        'tell standbys',
        () =>
          wasLeading ? this.redis.publish(this.keys.controlChannel, CONTROL_RESIGNED) : Promise.resolve(),
      ],
      ['close lease', () => this.lease.close()],
      ['close ingress', () => this.ingress.close()],
      ['stop watching', async () => this.subscriptionWatch.stop()],
      // After the handover: leaving `stats` must never delay a standby's takeover.
      ['leave stats', () => this.presence.stop()],
      [
        'quit redis',
        () =>
          Promise.all([
            closeQuietly(this.redis),
            this.subscriber instanceof PinnedSubscriber
              ? this.subscriber.close()
              : closeQuietly(this.subscriber),
          ]),
      ],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (error) {
        this.log.warn({ err: error, step: name }, 'shutdown step failed; continuing');
      }
    }
    this.setState('stopped');
  }

  private setState(state: DispatcherState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  private onIngressLost(): void {
    // This process's own buffer now has a gap too: it must not win the next takeover before it has
    // seen the leader's marker again.
    this.caughtUp = false;
    this.subscriptionGap = true;
    this.gapAt = performance.now();
    this.resubscribedAt = undefined;
    this.firstAfterGap = undefined;
    if (this.state === 'leading') {
      this.log.warn(
        'subscription to the channel dropped: stepping down so a connected standby replays the gap',
      );
      void this.stepDown('ingress_lost');
    }
  }

  private onControl(channel: Buffer, message: Buffer): void {
    if (channel.toString() !== this.keys.controlChannel) return;
    if (message.toString() === CONTROL_RESIGNED && this.state === 'standby' && this.caughtUp)
      this.scheduleCampaign(0);
  }

  /** Notes when the subscription is back, then campaigns after a short settle (see `subscriptionGap`). */
  private async afterResubscribe(): Promise<void> {
    try {
      // Answered after the re-sent SUBSCRIBEs on the same connection: from here on we hear everything.
      await this.subscriber.subscribe(this.keys.controlChannel);
    } catch {
      return; // dropped again; the next 'ready' tries again
    }
    if (!this.subscriptionGap || this.resubscribedAt !== undefined) return;
    this.resubscribedAt = performance.now();
    this.log.info('resubscribed after a gap');
    // One lease first: a standby that never lost its subscription (it heard everything; it campaigns
    // every lease/4) wins if there is one, and one that came back earlier has recorded its first message.
    if (this.state === 'standby' && !this.electing) this.scheduleCampaign(this.config.leaseMs);
  }

  /** Records the first message heard after a gap, for the other dispatchers to compare with. */
  private async recordFirstAfterGap(fingerprint: string): Promise<void> {
    try {
      await this.withReadyConnection((redis) =>
        redis
          .multi()
          .hset(this.keys.resumed, this.id, fingerprint)
          .pexpire(this.keys.resumed, this.config.leaseMs * 10)
          .exec(),
      );
    } catch (error) {
      this.log.warn({ err: error }, 'could not record the first message heard after the gap');
    }
  }

  /**
   * True when this process heard, since its gap, the first message every other dispatcher heard after
   * its own gap: nobody holds anything it missed. Others' entries expire after 10 leases.
   */
  private async heardWhatOthersHeard(): Promise<boolean> {
    let firsts: Record<string, string>;
    try {
      firsts = await this.withReadyConnection((redis) => redis.hgetall(this.keys.resumed));
    } catch {
      return false;
    }
    for (const [id, fingerprint] of Object.entries(firsts)) {
      if (id === this.id) continue;
      if (!this.buffer.heardSince(fingerprint, this.gapAt)) return false;
    }
    return true;
  }

  /**
   * Runs `use` on the command connection, or on a fresh one while that one is still in its own
   * reconnect backoff: gap bookkeeping must happen now, not whenever that backoff ends.
   */
  private async withReadyConnection<T>(use: (redis: DataClient) => Promise<T>): Promise<T> {
    if (this.redis.status === 'ready') return use(this.redis);
    const fresh = this.redis.duplicate();
    fresh.on('error', () => {});
    try {
      await fresh.connect();
      return await use(fresh);
    } finally {
      fresh.disconnect();
    }
  }

  /** Once per process: the deployment's first heard message, unless a dispatcher offered one already. */
  private offerFirstHeard(fingerprint: string): void {
    this.redis
      .set(this.keys.firstHeard, fingerprint, 'NX')
      .catch((error: unknown) => this.log.warn({ err: error }, 'could not record the first message heard'));
  }

  private endGap(): void {
    if (!this.subscriptionGap) return;
    this.subscriptionGap = false;
    this.resubscribedAt = undefined;
    this.firstAfterGap = undefined;
    this.redis.hdel(this.keys.resumed, this.id).catch(() => {});
  }

  /** Every message from the ingress: the leader batches it; a standby buffers it for failover replay. */
  private readonly deliver: Deliver = (message, ack) => {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    const received: Received = this.buffer.mark(message);
    if (ack) received.ack = ack;
    if (!this.offeredFirstHeard) {
      this.offeredFirstHeard = true;
      this.offerFirstHeard(fingerprintOf(received.marker));
    }
    if (this.subscriptionGap && this.firstAfterGap === undefined) {
      this.firstAfterGap = fingerprintOf(received.marker);
      void this.recordFirstAfterGap(this.firstAfterGap);
    }
    if (this.state === 'leading' && this.batcher) {
      this.metrics.received.inc();
      this.batcher.add(received);
      this.metrics.pending.set(this.batcher.pendingCount);
    } else {
      this.buffer.push(received);
      this.metrics.standbyBuffer.set(this.buffer.size);
    }
  };

  /** A standby drops what the leader's progress marker proves written, and ages out the rest. */
  private scheduleStandbyPoll(): void {
    this.standbyTimer = setTimeout(async () => {
      if (this.state === 'standby' && !this.electing) await this.pollProgress();
      if (this.state !== 'stopping' && this.state !== 'stopped') this.scheduleStandbyPoll();
    }, this.config.standbyPollMs);
  }

  private async pollProgress(): Promise<void> {
    try {
      const marker = await this.mode.readProgress();
      if (this.state !== 'standby' || this.electing) return;
      // JetStream keeps what no leader took, so any standby can take over without a buffer.
      if (this.ingress.consumers === 'leader') {
        this.caughtUp = true;
      } else if (this.subscriptionGap) {
        // A marker from before the gap (the old leader's last batch) proves nothing about after it.
        if (marker && this.buffer.trimThrough(marker, this.gapAt) > 0) {
          this.caughtUp = true;
          this.endGap();
        }
      } else if (!marker) {
        const first = await this.redis.get(this.keys.firstHeard);
        if (this.state !== 'standby' || this.electing) return;
        this.caughtUp = first === null || this.buffer.heardSince(first, Number.NEGATIVE_INFINITY);
      } else if (this.buffer.trimThrough(marker) > 0 || this.buffer.trimmedThrough(marker)) {
        this.caughtUp = true;
      }
    } catch {
      // Keep everything: the buffer's own limits still bound it.
    }
    this.buffer.enforceLimits();
    this.metrics.standbyBuffer.set(this.buffer.size);
    this.metrics.standbyCaughtUp.set(this.caughtUp ? 1 : 0);
    this.metrics.standbyEvicted.inc(this.buffer.evicted - this.reportedEvictions);
    this.reportedEvictions = this.buffer.evicted;
  }

  /** A standby that is not caught up still campaigns (someone must lead), but only after others had ample time. */
  private slowCampaignDelay(): number {
    return this.config.leaseMs * (2 + Math.random());
  }

  private reportedEvictions = 0;

  private scheduleCampaign(delayMs: number): void {
    clearTimeout(this.campaignTimer);
    this.campaignTimer = setTimeout(() => void this.campaign(), delayMs);
  }

  private async campaign(): Promise<void> {
    if (this.state !== 'standby' || this.electing) return;
    if (this.subscriptionGap) {
      // Subscription still down: leading now would write only what it hears later, while others
      // already buffer what it missed. afterResubscribe() schedules the next try.
      if (this.resubscribedAt === undefined) return;
      const waited = performance.now() - this.resubscribedAt;
      if (waited < GAP_DEFER_LEASES * this.config.leaseMs && !(await this.heardWhatOthersHeard())) {
        this.scheduleCampaign(this.config.leaseMs / 4);
        return;
      }
      if (this.state !== 'standby' || this.electing) return;
    }
    try {
      await this.lease.acquire();
    } catch (error) {
      if (this.state === 'standby') {
        const name = (error as Error).name;
        if (name !== 'LeaseContendedError') this.log.warn({ err: error }, 'lease acquisition failed');
        // lease/4 with ±25% jitter so standbys do not stampede the lock masters together.
        const base = this.config.leaseMs / 4;
        // After a gap, the comparison above decides; retry at the normal pace.
        this.scheduleCampaign(
          this.caughtUp || this.subscriptionGap
            ? base * (0.75 + Math.random() * 0.5)
            : this.slowCampaignDelay(),
        );
      }
      return;
    }
    if (this.state !== 'standby') {
      await this.lease.release();
      return;
    }
    this.electing = true;
    try {
      await this.becomeLeader();
    } catch (error) {
      this.log.error({ err: error }, 'taking over failed; stepping down');
      await this.stepDown(error instanceof FencedError ? 'fenced' : 'error');
    } finally {
      this.electing = false;
    }
    // A takeover that failed before it started leading must not leave this standby idle for good.
    if (this.state === 'standby') this.scheduleCampaign(this.config.leaseMs);
  }

  /**
   * Takes over: raise the epoch (fencing out any older leader), learn the live workers, read the old
   * leader's progress marker, then — synchronously, so no message slips between — replay from the
   * standby buffer what the marker does not prove written and switch intake to the batcher.
   */
  private async becomeLeader(): Promise<void> {
    this.scheduleRenew();
    // This process holds the lease, and may hold the only complete buffer: a transient error (a
    // command timeout on a loaded box) must not hand the takeover to a standby that heard less.
    const routing = await this.whileLeased('taking over', () => this.guardLease(() => this.elect()));
    // Read after the epoch was raised: no older leader can move the marker any more.
    const marker = await this.whileLeased('reading the progress marker', () => this.mode.readProgress());
    if (this.state !== 'standby') return;
    // A renewal may have failed while we awaited; never start leading without the lease.
    if (!this.lease.held) throw new LeadershipLostError('lease lost while taking over');

    const batcher = new Batcher({
      maxBatch: this.config.batchSize,
      write: async (batch) => {
        await this.guardLease(() => routing.write(batch));
        this.metrics.pending.set(batcher.pendingCount);
        // JetStream: acknowledge only what is now durably in Redis.
        for (const ack of batch.acks) ack?.();
      },
      nextId: () => this.nextId(),
      isFatal: (error) => error instanceof FencedError || error instanceof LeadershipLostError,
      onFatal: (error) => void this.stepDown(error instanceof FencedError ? 'fenced' : 'lease_expired'),
      onRetry: (error, delayMs) => {
        this.metrics.writeErrors.inc();
        this.log.warn({ err: error, delayMs }, 'batch write failed; retrying the same batch');
      },
    });
    const { replay, matched } = this.buffer.takeUnwritten(marker);
    this.endGap();
    for (const received of replay) batcher.add(received);
    this.routing = routing;
    this.batcher = batcher;
    this.setState('leading');
    if (this.ingress.consumers === 'leader') await this.ingress.consume(this.deliver);
    this.metrics.standbyBuffer.set(0);
    this.metrics.leader.set(1);
    this.metrics.leaderEpoch.set(this.epoch);
    this.metrics.elections.inc();
    this.metrics.replayed.inc(replay.length);
    if (!matched && replay.length > 0) this.metrics.replayUnmatched.inc();
    if (replay.length > 0) {
      this.redis.hincrby(this.keys.totals, 'failoverReplayed', replay.length).catch(() => {});
    }
    this.log.info({ epoch: this.epoch, replayed: replay.length, markerMatched: matched }, 'elected leader');
    this.reapTimer = setTimeout(() => void this.reapOnce(), this.config.reapIntervalMs);
  }

  /**
   * Raises the epoch (fencing out any older leader) and the mode's own fences. In streams mode a
   * partition fence can be ahead of the epoch key when a cluster failover lost the key's last
   * writes; the epoch is then raised past that fence and the takeover tried once more.
   */
  private async elect(floor = 0): Promise<LeaderRouting> {
    this.epoch = await this.redis.rdElect(
      this.keys.epoch,
      this.keys.leader,
      this.id,
      hostname(),
      process.pid,
      this.config.leaseMs,
      floor,
    );
    this.sequence = 0;
    try {
      return await this.mode.takeOver(this.epoch);
    } catch (error) {
      if (error instanceof EpochBehindError && floor === 0) {
        this.log.warn(
          { epoch: error.epoch, fence: error.floor },
          'epoch behind a partition fence; raising it',
        );
        return this.elect(error.floor);
      }
      throw error;
    }
  }

  /**
   * Runs a takeover step again after a transient failure, for as long as this process still holds
   * the lease. Fencing and lost leadership are final; so is a dispatcher that is shutting down.
   * Retrying elect() raises the epoch again, which only supersedes the failed attempt's fences.
   */
  private async whileLeased<T>(step: string, run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const final =
          error instanceof FencedError ||
          error instanceof LeadershipLostError ||
          this.state !== 'standby' ||
          !this.lease.held ||
          this.lease.validForMs() < this.config.leaseMs / 4;
        if (final) throw error;
        this.log.warn({ err: error, step, attempt }, 'takeover step failed; retrying while the lease holds');
        await new Promise((resolve) => setTimeout(resolve, Math.min(25 * 2 ** attempt, 200)));
      }
    }
  }

  private nextId(): string {
    this.sequence += 1;
    return `${this.epoch.toString(36)}-${this.sequence.toString(36)}`;
  }

  /** Refuses to write once the lease may have run out on the monotonic clock (e.g. after SIGSTOP). */
  private async guardLease<T>(write: () => Promise<T>): Promise<T> {
    if (this.lease.validForMs() <= 0)
      throw new LeadershipLostError('lease validity ran out before the write');
    return write();
  }

  private scheduleRenew(): void {
    this.renewTimer = setTimeout(async () => {
      if (this.state !== 'leading' && !this.electing) return;
      try {
        await this.lease.renew();
        if (this.state === 'leading' || this.electing) this.scheduleRenew();
      } catch (error) {
        this.log.error({ err: error }, 'lease renewal failed; stepping down');
        await this.stepDown('renewal_failed');
      }
    }, this.config.leaseMs / 3);
  }

  private async reapOnce(): Promise<void> {
    const routing = this.routing;
    if (!routing || this.state !== 'leading') return;
    clearTimeout(this.reapTimer);
    let more = false;
    try {
      const result = await this.guardLease(() => routing.upkeep());
      if (this.config.mode === 'lists' && result.backlog > 0 && result.liveWorkers > 0) this.batcher?.kick();
      more = result.more;
    } catch (error) {
      if (error instanceof FencedError || error instanceof LeadershipLostError) {
        await this.stepDown(error instanceof FencedError ? 'fenced' : 'lease_expired');
        return;
      }
      this.log.warn({ err: error }, 'reap failed; will retry');
    }
    if (this.state === 'leading') {
      this.reapTimer = setTimeout(() => void this.reapOnce(), more ? 0 : this.config.reapIntervalMs);
    }
  }

  /** Stops leading at once. Messages received but unwritten are counted as abandoned. */
  private async stepDown(reason: StepDownReason): Promise<void> {
    const wasLeading = this.batcher !== undefined;
    clearTimeout(this.renewTimer);
    clearTimeout(this.reapTimer);
    if (wasLeading) {
      const left = this.batcher?.stop() ?? [];
      this.batcher = undefined;
      if (this.ingress.consumers === 'leader') {
        // JetStream redelivers whatever was not acked to the next leader; keep nothing here.
        await this.ingress.pause().catch(() => {});
      } else if (left.length > 0) {
        // Keep them: if this process leads again, the marker check replays whatever nobody wrote.
        this.buffer.unshift(left);
      }
      if (left.length > 0) {
        this.metrics.abandoned.inc(left.length);
        this.log.warn(
          { count: left.length, reason },
          'unwritten messages kept in the standby buffer at step-down',
        );
      }
      this.routing?.clearGauges();
      this.routing = undefined;
      this.metrics.leader.set(0);
      this.metrics.leaderEpoch.set(0);
      this.metrics.stepdowns.inc({ reason });
      this.metrics.pending.set(0);
      this.log.warn({ reason, epoch: this.epoch }, 'stepped down');
    }
    // A takeover that failed after raising the epoch left a record naming this process: clear it, so
    // `stats` (and anyone acting on it) never takes a standby for the leader.
    if (wasLeading || this.electing) {
      try {
        await this.redis.rdResign(this.keys.epoch, this.keys.leader, this.epoch);
      } catch {
        // The next leader overwrites the record; nothing depends on this write.
      }
    }
    await this.lease.release();
    if (this.state === 'leading') {
      this.setState('standby');
      // Let a healthier candidate win before competing again.
      this.scheduleCampaign(this.config.leaseMs);
    }
  }
}
