import {
  type CloseStep,
  type Config,
  ConfigError,
  closeQuietly,
  connectOrThrow,
  createDataConnection,
  createKeys,
  type DataClient,
  dataSetting,
  dataTarget,
  joinDeployment,
  type Keys,
  type Logger,
  type Readiness,
  redisTimeMs,
  runCloseSteps,
  scripts,
  tlsSettingsFrom,
  validateLibraryOptions,
} from '@redispatch/shared';
import type { Registry } from 'prom-client';
import { ConsumeLoop } from './consume-loop.js';
import { EntryTracker } from './entry-tracker.js';
import { Finisher } from './finisher.js';
import { type FramePublisher, natsFramePublisher, redisFramePublisher } from './frame-publisher.js';
import { HttpDeliverer } from './http-deliverer.js';
import { openSocketGateway } from './open-gateway.js';
import { ListOutboundQueue, type OutboundQueue } from './outbound-queue.js';
import { createRelayMetrics, type RelayMetrics } from './relay-metrics.js';
import { heartbeatAndSweep } from './relay-sweep.js';
import { ReplyBinding } from './reply-binding.js';
import { ReplyRouter } from './reply-router.js';
import { SessionRegistry } from './session-registry.js';
import type { SocketGateway } from './socket-gateway.js';

/**
 * Lifecycle:
 * - `idle`: constructed, not started.
 * - `running`: registered (heartbeating), accepting sockets, delivering replies.
 * - `draining`: close() called: refuses new sockets, keeps delivering until the open sockets have
 *   their replies (or the drain timeout), then closes them; unfinished replies stay queued for a
 *   relay with the same id (or are dead-lettered by a peer after the retention period).
 * - `stopped`: disconnected. - `failed`: start() failed; close() still cleans up.
 */
export type RelayState = 'idle' | 'running' | 'draining' | 'stopped' | 'failed';

export interface RelayOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
}

/** Entries taken per call from an outbound queue. */
const TAKE_BATCH = 256;
/** HTTP replies being POSTed at once. */
const HTTP_CONCURRENCY = 16;
/** Longest relay id that leaves room in a 255-byte reply address for a session id and its binding. */
const MAX_RELAY_ID_LENGTH = 195;
/** What a stop may take beyond the drain: closing sockets (2 s), finishing (2 s), quitting. */
const CLOSE_MARGIN_MS = 6_000;
/** How often the take loop looks again while the relay holds more unsent bytes than its budget. */
const BUDGET_POLL_MS = 50;

/**
 * `redispatch relay`: holds client WebSocket sessions, publishes their frames with a reply address
 * naming this relay and the session, and delivers the replies workers queue for it on the session's
 * socket; optionally also the deliverer of replies addressed to http(s):// URLs.
 */
export class Relay {
  state: RelayState = 'idle';
  readonly id: string;
  /** The WebSocket port once listening (useful with REDISPATCH_RELAY_PORT=0). */
  port: number | undefined;
  private readonly config: Config;
  private readonly keys: Keys;
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly redis: DataClient;
  private readonly blockingWs: DataClient;
  private readonly blockingHttp: DataClient;
  private readonly sessions: SessionRegistry;
  private readonly relayQueue: OutboundQueue;
  private readonly httpQueue: OutboundQueue;
  private readonly relayTracker = new EntryTracker();
  private readonly httpTracker = new EntryTracker();
  private readonly relayFinisher: Finisher;
  private readonly httpFinisher: Finisher;
  private readonly router: ReplyRouter;
  private readonly binding: ReplyBinding;
  /** Aborted when the take loops must end (shutdown), so a wait for budget room ends too. */
  private readonly stopTaking = new AbortController();
  private readonly http: HttpDeliverer;
  private publisher: FramePublisher | undefined;
  private gateway: SocketGateway | undefined;
  private readonly relayLoop: ConsumeLoop;
  private readonly httpLoop: ConsumeLoop;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: RelayOptions) {
    const config = options.config;
    validateLibraryOptions('Relay config', config);
    this.config = config;
    this.id = config.instanceId;
    this.keys = createKeys(config.prefix);
    this.log = options.logger.child({ component: 'relay', instanceId: this.id });
    this.metrics = createRelayMetrics(options.registry);
    const base = {
      url: config.redisUrl,
      // Streams mode: every relay key sits in the deployment's own slot, so the cluster serves it as is.
      clusterNodes: config.mode === 'streams' ? config.clusterNodes : undefined,
      clusterNatMap: config.clusterNatMap,
      tls: tlsSettingsFrom(config),
      commandTimeoutMs: config.commandTimeoutMs,
    };
    this.redis = createDataConnection('command', { ...base, name: `rd-relay-${this.id}` });
    this.blockingWs = createDataConnection('blocking', { ...base, name: `rd-relay-block-${this.id}` });
    this.blockingHttp = createDataConnection('blocking', { ...base, name: `rd-relay-http-${this.id}` });
    const warn = (what: string) => (error: unknown) => this.log.warn({ err: error }, what);
    const k = this.keys;
    const route = `relay:${this.id}`;
    this.relayQueue = new ListOutboundQueue(
      this.redis,
      this.blockingWs,
      k.outbound(route),
      k.outboundProcessing(route, this.id),
      k.outboundDead,
    );
    this.httpQueue = new ListOutboundQueue(
      this.redis,
      this.blockingHttp,
      k.outbound('http'),
      k.outboundProcessing('http', this.id),
      k.outboundDead,
    );
    this.relayFinisher = new Finisher(
      this.relayQueue,
      this.relayTracker,
      warn('finishing replies failed; retrying'),
    );
    this.httpFinisher = new Finisher(
      this.httpQueue,
      this.httpTracker,
      warn('finishing HTTP replies failed; retrying'),
    );
    if (this.id.length > MAX_RELAY_ID_LENGTH)
      throw new ConfigError([
        `REDISPATCH_INSTANCE_ID (--instance-id) of a relay is at most ${MAX_RELAY_ID_LENGTH} characters: it is part of every 255-byte reply address (got ${this.id.length})`,
      ]);
    this.binding = new ReplyBinding(config.relayRetentionMs);
    this.sessions = new SessionRegistry(
      this.redis,
      k.relaySessions(this.id),
      config.relayResumeMs,
      config.relayMaxConnections,
      {
        maxPending: config.relayMaxPending,
        pendingTimeoutMs: config.relayPendingTimeoutMs,
        frameRate: config.relayFrameRate,
      },
      warn('recording a session failed'),
    );
    this.router = new ReplyRouter({
      relayId: this.id,
      sessions: this.sessions,
      binding: this.binding,
      maxBufferedBytes: config.relayMaxBufferedBytes,
      onReplied: (session, nonce) => this.gateway?.replied(session, nonce),
      finisher: this.relayFinisher,
      metrics: this.metrics,
      log: this.log,
      fallback: config.relayFallback,
      retentionMs: config.relayRetentionMs,
    });
    this.http = new HttpDeliverer({
      finisher: this.httpFinisher,
      metrics: this.metrics,
      log: this.log,
      maxAttempts: config.httpMaxAttempts,
      backoffBaseMs: config.httpBackoffBaseMs,
      timeoutMs: config.httpTimeoutMs,
      retentionMs: config.relayRetentionMs,
      allow: config.httpAllow ?? [],
      concurrency: HTTP_CONCURRENCY,
    });
    const serverTime = () => redisTimeMs(this.redis);
    this.relayLoop = new ConsumeLoop({
      queue: this.relayQueue,
      tracker: this.relayTracker,
      handle: (raw, nowMs) => this.router.route(raw, nowMs),
      room: () => this.replyRoom(),
      serverTime,
      log: this.log,
      what: 'replies',
    });
    this.httpLoop = new ConsumeLoop({
      queue: this.httpQueue,
      tracker: this.httpTracker,
      handle: (raw, nowMs) => void this.http.deliver(raw, nowMs),
      room: () => this.http.room(HTTP_CONCURRENCY),
      serverTime,
      log: this.log,
      what: 'HTTP replies',
    });
    // A re-sent BLMOVE after a reconnect may follow one whose reply was lost with the connection.
    this.blockingWs.on('reconnecting', () => this.relayLoop.reconcile());
    this.blockingHttp.on('reconnecting', () => this.httpLoop.reconcile());
  }

  readiness(): Readiness {
    return { ready: this.state === 'running' && this.redis.status === 'ready', state: this.state };
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`relay ${this.id} cannot start from state ${this.state}`);
    const c = this.config;
    try {
      const target = { url: c.redisUrl, clusterNodes: c.mode === 'streams' ? c.clusterNodes : undefined };
      for (const client of [this.redis, this.blockingWs, this.blockingHttp])
        await connectOrThrow(client, dataTarget(target), dataSetting(target), c.commandTimeoutMs * 5);
      // A relay of another mode would register where no worker of this deployment looks (guarantee 8).
      await joinDeployment(this.redis, this.keys, {
        prefix: c.prefix,
        mode: c.mode,
        partitions: c.partitions,
        stamp: false,
        loadPartitions: false,
      });
      // Registered first: from now on workers queue replies for us instead of dead-lettering them.
      await scripts.heartbeat(
        this.redis,
        { registry: this.keys.relays },
        { member: this.id, action: 'beat' },
      );
      this.publisher =
        c.ingress === 'redis'
          ? redisFramePublisher(this.redis, c.channel)
          : await natsFramePublisher(c, `rd-relay-${this.id}`);
      await this.binding.load(this.redis, this.keys.relaySessions(this.id));
      const resumable = await this.sessions.load();
      const recovered = await this.relayQueue.recover();
      const nowMs = await redisTimeMs(this.redis);
      for (const raw of recovered) {
        this.relayTracker.add(raw);
        this.router.route(raw, nowMs);
      }
      // HTTP replies a predecessor had taken go back in line for any deliverer.
      const returned = await this.httpQueue.giveBack();
      if (c.relayPort >= 0) {
        const opened = await openSocketGateway(c, {
          relayId: this.id,
          sessions: this.sessions,
          binding: this.binding,
          router: this.router,
          publisher: this.publisher,
          metrics: this.metrics,
          log: this.log,
        });
        this.gateway = opened.gateway;
        this.port = opened.port;
      }
      this.state = 'running';
      this.sessionGauges();
      this.relayLoop.start();
      if (c.relayHttp) this.httpLoop.start();
      if (c.relayHttp && this.http.allowsNothing)
        this.log.warn(
          'HTTP delivery is on but REDISPATCH_HTTP_ALLOW allows nothing: every HTTP reply is dead-lettered',
        );
      this.scheduleHeartbeat();
      this.log.info(
        {
          port: this.port ?? null,
          host: c.relayHost,
          tls: c.relayTlsCertFile !== undefined,
          http: c.relayHttp,
          resumable,
          recovered: recovered.length,
          returned,
          prefix: c.prefix,
        },
        'relay listening',
      );
    } catch (error) {
      this.state = 'failed';
      throw error;
    }
  }

  /** Stops accepting, drains and closes sockets, keeps what is undelivered, disconnects. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = this.state === 'failed' ? 'failed' : 'draining';
    const drainMs = this.config.drainTimeoutMs;
    const steps: CloseStep[] = [
      ['stop accepting', async () => this.gateway?.stopAccepting()],
      ['drain sockets', () => (wasRunning ? this.waitForReplies(drainMs) : Promise.resolve())],
      ['close sockets', () => this.gateway?.closeSockets(Math.min(drainMs, 2_000)) ?? Promise.resolve()],
      ['record sessions', () => this.recordDetached()],
      [
        'stop taking',
        async () => {
          this.stopTaking.abort();
          this.relayLoop.halt();
          this.httpLoop.halt();
          // Interrupts a blocked BLMOVE; whatever it moved is in our processing list, so nothing is lost.
          this.blockingWs.disconnect();
          this.blockingHttp.disconnect();
          // Aborted HTTP attempts leave their entries in the processing list (given back below).
          await this.http.stop();
          await Promise.allSettled([this.relayLoop.done, this.httpLoop.done]);
        },
      ],
      ['finish', () => Promise.all([this.relayFinisher.drain(2_000), this.httpFinisher.drain(2_000)])],
      // Another deliverer takes over our HTTP replies at once; socket replies wait for our replacement.
      ['return HTTP replies', () => (wasRunning ? this.httpQueue.giveBack() : Promise.resolve())],
      ['stop heartbeats', async () => clearTimeout(this.heartbeatTimer)],
      ['close publisher', () => this.publisher?.close() ?? Promise.resolve()],
      [
        'quit',
        () =>
          Promise.all([
            closeQuietly(this.redis),
            closeQuietly(this.blockingWs),
            closeQuietly(this.blockingHttp),
          ]),
      ],
    ];
    // Bounded (guarantee 9): the drain, plus what closing sockets and finishing may take.
    const outcome = await runCloseSteps(steps, { log: this.log, budgetMs: drainMs + CLOSE_MARGIN_MS });
    if (outcome.kind === 'incomplete')
      this.log.warn(
        { failed: outcome.failed, timedOut: outcome.timedOut },
        'relay stopped with steps left undone',
      );
    if (this.state !== 'failed') this.state = 'stopped';
    this.log.info('relay stopped');
  }

  /** Until every open session has the replies its frames asked for, or `timeoutMs`. */
  private async waitForReplies(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const outstanding = () => {
      let sum = 0;
      for (const s of this.sessions.all()) if (s.socket) sum += s.flow.pendingCount;
      return sum;
    };
    while (outstanding() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  private async recordDetached(): Promise<void> {
    const fields = this.sessions.detachedRecords();
    if (fields.length > 0) await this.redis.hset(this.keys.relaySessions(this.id), ...fields);
  }

  /**
   * How many replies to take next: none while the relay holds more unsent reply bytes than its
   * budget (slow sockets, replies waiting for resumes) — they wait in Redis, not in this heap.
   */
  private async replyRoom(): Promise<number> {
    while (this.router.heldBytes() > this.config.relayMemoryBudgetBytes && !this.stopTaking.signal.aborted)
      await new Promise((resolve) => setTimeout(resolve, BUDGET_POLL_MS));
    return TAKE_BATCH;
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = setTimeout(async () => {
      if (this.state !== 'running' && this.state !== 'draining') return;
      await this.tick();
      if (this.state === 'running' || this.state === 'draining') this.scheduleHeartbeat();
    }, this.config.heartbeatMs);
  }

  /** Heartbeat, sweep relays gone past the retention period, expire unresumed sessions, gauges. */
  private async tick(): Promise<void> {
    const c = this.config;
    await heartbeatAndSweep(this.redis, this.keys, this.id, c.relayRetentionMs, this.metrics, this.log);
    this.router.orphaned(this.sessions.expire());
    this.sessionGauges();
  }

  private sessionGauges(): void {
    const counts = this.sessions.counts();
    this.metrics.sessions.set({ state: 'attached' }, counts.attached);
    this.metrics.sessions.set({ state: 'detached' }, counts.detached);
  }
}
