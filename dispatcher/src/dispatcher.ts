import {
  type Config,
  type DispatcherDetails,
  FencedError,
  LeadershipLostError,
  type Logger,
  type Readiness,
  runCloseSteps,
  scripts,
  validateLibraryOptions,
} from '@redispatch/shared';
import type { Registry } from 'prom-client';
import {
  connectDispatcher,
  createDispatcherParts,
  type DispatcherParts,
  quitDispatcherConnections,
} from './dispatcher-parts.js';
import type { Deliver } from './ingress/ingress.js';
import { sameBytes } from './ingress/same-bytes.js';
import { Campaign } from './leadership/campaign.js';
import { Election } from './leadership/election.js';
import { LeaderTerm, type StepDownReason } from './leadership/leader-term.js';
import { CatchUp } from './standby/catch-up.js';
import type { Received } from './standby/replay-buffer.js';
import { SubscriptionWatch } from './standby/subscription-watch.js';

export type { StepDownReason } from './leadership/leader-term.js';

/**
 * Lifecycle (the public state):
 * - `starting`: connecting; nothing is subscribed yet.
 * - `standby`: connected, campaigning for the lease every lease/4 (with jitter).
 * - `leading`: holds the lease and a fresh epoch; subscribed to the channel, writing batches, reaping.
 * - `stopping`: close() was called: intake stopped, the batch in hand is being flushed, the lease released.
 * - `stopped`: everything closed.
 * - `failed`: start() failed (e.g. Redis unreachable); close() still cleans up.
 */
export type DispatcherState = 'starting' | 'standby' | 'leading' | 'stopping' | 'stopped' | 'failed';

/**
 * The whole state, one kind at a time. `electing` (lease won, taking over) and `resigning` (stepping
 * down, lease not yet released) show as the public state they come from: `standby` and `leading`.
 */
type Phase =
  | { kind: 'starting' | 'standby' | 'stopped' | 'failed' }
  | { kind: 'electing'; election: Election }
  | { kind: 'leading'; term: LeaderTerm }
  | { kind: 'resigning'; from: 'electing' | 'leading' }
  /** Until the close steps down: the term (or election) still held, so the batch in hand is flushed. */
  | { kind: 'stopping'; held: LeaderTerm | Election | undefined };

const CONTROL_RESIGNED = 'resigned';
/** What a stop may take beyond the drain: stepping down, quitting. */
const CLOSE_MARGIN_MS = 1_500;

export interface DispatcherOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
}

export class Dispatcher {
  readonly id: string;
  private phase: Phase = { kind: 'starting' };
  /** The epoch of the current (or, after a step-down, the last) term; 0 before the first. */
  epoch = 0;
  private readonly config: Config;
  private readonly parts: DispatcherParts;
  private readonly subscriptionWatch: SubscriptionWatch;
  private readonly catchUp: CatchUp;
  private readonly campaign: Campaign;
  private closing: Promise<void> | undefined;
  private readonly listeners = new Set<(state: DispatcherState) => void>();

  /** `config` is loadConfig's; one built by hand is checked with the same schemas (ConfigError). */
  constructor(options: DispatcherOptions) {
    validateLibraryOptions('Dispatcher config', options.config);
    const config = options.config;
    this.config = config;
    this.id = config.instanceId;
    const parts = createDispatcherParts(config, options.logger, options.registry);
    this.parts = parts;
    this.controlChannelBytes = Buffer.from(parts.keys.controlChannel);
    this.subscriptionWatch = new SubscriptionWatch({
      client: parts.subscriber,
      channel: parts.keys.controlChannel,
      inGap: () => this.catchUp.inGap,
      onLost: () => this.onIngressLost(),
      onBack: () => this.afterResubscribe(),
    });
    const isIdleStandby = () => this.phase.kind === 'standby';
    this.catchUp = new CatchUp({
      ...parts,
      pollMs: config.standbyPollMs,
      bufferless: parts.ingress.consumers === 'leader',
      isIdleStandby,
    });
    this.campaign = new Campaign({
      ...parts,
      catchUp: this.catchUp,
      isStandby: () => this.state === 'standby',
      isIdleStandby,
      onWon: () => this.takeOver(),
    });
  }

  get state(): DispatcherState {
    const phase = this.phase;
    if (phase.kind === 'electing') return 'standby';
    if (phase.kind === 'resigning') return phase.from === 'leading' ? 'leading' : 'standby';
    return phase.kind;
  }

  /** Readiness for /readyz: leading, or a connected standby ready to take over. */
  readiness(): Readiness {
    const { redis, subscriber } = this.parts;
    const connected =
      redis.status === 'ready' && subscriber.status === 'ready' && this.parts.ingress.connected();
    const ready = connected && (this.state === 'leading' || this.state === 'standby');
    return { ready, state: this.state };
  }

  /**
   * What `stats` shows of this dispatcher besides where it runs: `redispatch dispatcher` puts it in
   * the process's endpoint directory entry every REDISPATCH_HEARTBEAT_MS.
   */
  details(): DispatcherDetails {
    const leading = this.state === 'leading';
    return {
      state: leading ? 'leader' : this.state,
      caughtUp: leading || this.catchUp.caughtUp,
      buffered: leading ? 0 : this.parts.buffer.size,
    };
  }

  onStateChange(listener: (state: DispatcherState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    const { subscriber } = this.parts;
    try {
      await connectDispatcher(this.config, this.parts);
      subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onControl(channel, message));
      // Pub/sub keeps nothing for a disconnected subscriber: a leader whose subscription dropped has a
      // gap it cannot fill, but a standby that stayed connected can. Hand over so it replays the gap.
      if (this.config.ingress === 'redis') this.subscriptionWatch.start();
      await this.parts.ingress.connect();
    } catch (error) {
      this.setPhase({ kind: 'failed' });
      throw error;
    }
    await subscriber.subscribe(this.parts.keys.controlChannel);
    // At-most-once transports: standbys consume too; what they receive is buffered and replayed if
    // the leader dies with it unwritten. JetStream: only the leader consumes (it starts on election).
    if (this.parts.ingress.consumers === 'all') await this.parts.ingress.consume(this.deliver);
    this.setPhase({ kind: 'standby' });
    await this.catchUp.poll();
    this.catchUp.startPolling();
    const { channel, prefix, lockUrls } = this.config;
    this.parts.log.info({ channel, prefix, locks: lockUrls.length }, 'standby');
    this.campaign.schedule(this.catchUp.caughtUp ? 0 : this.campaign.slowDelay());
  }

  /** Stops intake, flushes the batch in hand, releases the lease so a standby takes over at once. */
  /** How the last close ended: 'incomplete' when a step failed or ran out of its budget. */
  closeOutcome: 'clean' | 'incomplete' = 'clean';

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasLeading = this.state === 'leading';
    const phase = this.phase;
    const held =
      phase.kind === 'leading' ? phase.term : phase.kind === 'electing' ? phase.election : undefined;
    this.setPhase({ kind: 'stopping', held });
    this.campaign.cancel();
    this.catchUp.stopPolling();
    const { redis, lease } = this.parts;
    const outcome = await runCloseSteps(
      [
        ['stop intake', () => this.parts.ingress.pause()],
        ['flush batch', () => (held instanceof LeaderTerm ? held.drain() : undefined)],
        ['step down', () => this.stepDown('shutdown')],
        [
          'tell standbys',
          () => (wasLeading ? redis.publish(this.parts.keys.controlChannel, CONTROL_RESIGNED) : 0),
        ],
        ['close lease', () => lease.close()],
        ['close ingress', () => this.parts.ingress.close()],
        ['stop watching', () => this.subscriptionWatch.stop()],
        ['quit redis', () => quitDispatcherConnections(this.parts)],
      ],
      // Bounded (guarantee 9): a flush against a Redis that is down retries until the budget is spent.
      { log: this.parts.log, budgetMs: this.config.drainTimeoutMs + CLOSE_MARGIN_MS },
    );
    this.setPhase({ kind: 'stopped' });
    if (outcome.kind === 'incomplete') {
      // What was left: the standbys heard the unwritten messages (and replay them); claims are
      // redelivered after the ack timeout. The CLI exits non-zero (issue 22).
      this.parts.log.warn(
        { failed: outcome.failed, timedOut: outcome.timedOut },
        'dispatcher stopped with steps left undone: unwritten messages stay with the standbys',
      );
      this.closeOutcome = 'incomplete';
    }
  }

  private setPhase(phase: Phase): void {
    const before = this.state;
    this.phase = phase;
    const after = this.state;
    if (before === after) return;
    for (const listener of this.listeners) listener(after);
  }

  private onIngressLost(): void {
    // This process's own buffer now has a gap too: it must not win the next takeover before it has
    // seen the leader's marker again.
    this.catchUp.subscriptionLost();
    if (this.phase.kind === 'leading') {
      this.parts.log.warn(
        'subscription to the channel dropped: stepping down so a connected standby replays the gap',
      );
      void this.stepDown('ingress_lost');
    }
  }

  /** Compared as bytes: every data message reaches this listener too (no string per message). */
  private readonly controlChannelBytes: Buffer;

  private onControl(channel: Buffer, message: Buffer): void {
    if (!sameBytes(channel, this.controlChannelBytes)) return;
    if (message.toString() === CONTROL_RESIGNED && this.state === 'standby' && this.catchUp.caughtUp)
      this.campaign.schedule(0);
  }

  /** Notes when the subscription is back, then campaigns after a short settle (see CatchUp). */
  private afterResubscribe(): void {
    if (!this.catchUp.resubscribed()) return;
    this.parts.log.info('resubscribed after a gap');
    // One lease first: a standby that never lost its subscription (it heard everything; it campaigns
    // every lease/4) wins if there is one, and one that came back earlier has recorded its first message.
    if (this.phase.kind === 'standby') this.campaign.schedule(this.config.leaseMs);
  }

  /** Every message from the ingress: the leader batches it; a standby buffers it for failover replay. */
  private readonly deliver: Deliver = (message, ack) => {
    const phase = this.phase;
    if (phase.kind === 'stopping' || phase.kind === 'stopped') return;
    this.catchUp.heard(message);
    if (phase.kind === 'leading') {
      const received: Received = this.parts.buffer.mark(message);
      if (ack) received.ack = ack;
      this.parts.metrics.received.inc();
      phase.term.add(received);
      this.parts.metrics.pending.set(phase.term.pendingCount);
    } else {
      // No object, string or hash per message here: a standby fingerprints lazily (replay-buffer.ts).
      this.parts.buffer.keep(message, ack);
    }
  };

  /** The lease is won: take over, or step down if the takeover fails. */
  private async takeOver(): Promise<void> {
    const isCurrent = () => this.phase.kind === 'electing' && this.phase.election === election;
    const election: Election = new Election({
      ...this.parts,
      isCurrent,
      isRenewing: () => this.phase.kind === 'electing' || this.phase.kind === 'leading',
      onRenewalFailed: () => this.stepDown('renewal_failed'),
    });
    this.setPhase({ kind: 'electing', election });
    try {
      await this.becomeLeader(election, isCurrent);
    } catch (error) {
      this.parts.log.error({ err: error }, 'taking over failed; stepping down');
      await this.stepDown(error instanceof FencedError ? 'fenced' : 'error');
    }
  }

  /**
   * Takes over: the election raises the epoch and reads the old leader's progress marker; then —
   * synchronously, so no message slips between — the term replays from the standby buffer what the
   * marker does not prove written, and intake switches to its batcher.
   */
  private async becomeLeader(election: Election, isCurrent: () => boolean): Promise<void> {
    const elected = await election.run();
    this.epoch = elected.epoch;
    if (!isCurrent()) return;
    // A renewal may have failed while we awaited; never start leading without the lease.
    if (!this.parts.lease.held) throw new LeadershipLostError('lease lost while taking over');
    const term: LeaderTerm = new LeaderTerm({
      ...this.parts,
      batchSize: this.config.batchSize,
      prefix: this.config.prefix,
      reapIntervalMs: this.config.reapIntervalMs,
      dueCheckMs: this.config.dueCheckMs,
      maxPendingBytes: this.config.leaderPendingBytes,
      maxPending: this.config.leaderPendingMax,
      elected,
      renewal: election.renewal,
      kickOnBacklog: this.config.mode === 'lists',
      isCurrent: () => this.phase.kind === 'leading' && this.phase.term === term,
      onLost: (reason) => this.stepDown(reason),
    });
    const { replay, matched } = this.parts.buffer.takeUnwritten(elected.marker);
    this.catchUp.endGap();
    for (const received of replay) term.add(received);
    this.setPhase({ kind: 'leading', term });
    if (this.parts.ingress.consumers === 'leader') await this.parts.ingress.consume(this.deliver);
    term.recordTakeover(replay.length, matched, elected.marker !== '');
    if (replay.length > 0) {
      this.parts.redis.hincrby(this.parts.keys.totals, 'failoverReplayed', replay.length).catch(() => {});
    }
    term.startReaping();
  }

  /** Takes the term (or election) out of the state, so exactly one step-down ends it. */
  private detachHeld(): LeaderTerm | Election | undefined {
    const phase = this.phase;
    if (phase.kind === 'leading') {
      this.setPhase({ kind: 'resigning', from: 'leading' });
      return phase.term;
    }
    if (phase.kind === 'electing') {
      this.setPhase({ kind: 'resigning', from: 'electing' });
      return phase.election;
    }
    if (phase.kind === 'stopping') {
      const held = phase.held;
      phase.held = undefined;
      return held;
    }
    return undefined;
  }

  /** Stops leading at once. Messages received but unwritten are kept in the buffer and counted. */
  private async stepDown(reason: StepDownReason): Promise<void> {
    const held = this.detachHeld();
    if (held instanceof LeaderTerm) {
      const left = held.end(reason);
      if (this.parts.ingress.consumers === 'leader') {
        // JetStream redelivers whatever was not acked to the next leader; keep nothing here.
        await this.parts.ingress.pause().catch(() => {});
      } else {
        // Keep them: if this process leads again, the marker check replays whatever nobody wrote.
        this.parts.buffer.unshift(left);
        // Its buffer now holds everything after its own last write (the rest, then what it hears), so
        // that marker proves it caught up — as a trim would for a standby. Without it, re-elected
        // before a successor wrote anything, it would not find its own marker and replay everything.
        this.parts.buffer.heldEverythingAfter(held.lastWrittenMarker);
      }
    } else {
      held?.end();
    }
    // A takeover that failed after raising the epoch left a record naming this process: clear it, so
    // `stats` (and anyone acting on it) never takes a standby for the leader. By id too: an election
    // script the client gave up on still runs (before this, on the same connection) and names us.
    if (held) {
      try {
        await scripts.resign(this.parts.redis, this.parts.keys, { epoch: held.epoch, id: this.parts.id });
      } catch {
        // The next leader overwrites the record; nothing depends on this write.
      }
    }
    await this.parts.lease.release();
    if (this.phase.kind === 'resigning') {
      this.setPhase({ kind: 'standby' });
      // Let a healthier candidate win before competing again.
      this.campaign.schedule(this.config.leaseMs);
    }
  }
}
