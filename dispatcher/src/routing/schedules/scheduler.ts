import {
  type DataClient,
  encodeEnvelope,
  FencedError,
  type Keys,
  LeadershipLostError,
  type Logger,
  nextDueAfter,
  parseScheduleSpec,
  type ScheduleSpec,
  scheduleTickId,
  type scripts,
} from '@redispatch/shared';
import type { DispatcherMetrics } from '../../metrics.js';
import { MAX_TICKS_PER_PASS, planTicks } from './tick-plan.js';

/** One tick handed to the routing: a message (`payload`) or, empty, a skipped tick (the mark moves). */
export interface ScheduleTick {
  name: string;
  dueMs: number;
  id: string;
  payload: Buffer | '';
}

/** The routing's fenced write of one tick (lists: scheduleFire-6; streams: append, then scheduleAdvance-3). */
export type FireTick = (tick: ScheduleTick) => Promise<scripts.ScheduleTickReply>;

export interface SchedulerOptions {
  client: DataClient;
  keys: Keys;
  fire: FireTick;
  /** Runs a call under the lease (throws LeadershipLostError once it ran out). */
  guard: <T>(call: () => Promise<T>) => Promise<T>;
  /** How long a failover may take: ticks within it after the last leader's mark are fired, not "missed". */
  graceMs: number;
  /** After a fired tick (lists: a write routes the backlog now). */
  afterFire: () => void;
  metrics: DispatcherMetrics;
  log: Logger;
  isCurrent: () => boolean;
  onLost: (error: FencedError | LeadershipLostError) => Promise<void>;
}

/** Longest timer armed at once (setTimeout's limit is ~24.8 days; a far tick is re-checked). */
const MAX_WAIT_MS = 60_000;

interface Loaded {
  spec: ScheduleSpec;
  lastMs: number;
}

/**
 * The leader's schedules (docs/flow-control.md, Schedules): fires each due tick through the routing's
 * fenced write, with the tick's due time in its message id, and arms one timer for the earliest next
 * tick. Re-reads the schedules on takeover and when an admin's change moved the version (checked on
 * every upkeep), and marks `alive` on each upkeep so a successor can tell a failover from a time when
 * no dispatcher ran.
 */
export class Scheduler {
  private version: string | undefined;
  private schedules = new Map<string, Loaded>();
  /** The previous leaders' last upkeep mark, read at takeover (0 = none; undefined = not read yet). */
  private priorAliveMs: number | undefined;
  private readonly takeoverMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** A pass runs at a time; a kick during one asks for another after it. */
  private passState: { kind: 'idle' } | { kind: 'running'; again: boolean } = { kind: 'idle' };
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {}

  /** Takeover: reads the schedules and the previous mark, fires what is due, arms the timer. */
  async start(): Promise<void> {
    const alive = await this.options.client.hget(this.options.keys.scheduleState, 'alive');
    this.priorAliveMs = Number(alive ?? 0);
    await this.upkeep();
  }

  /** Each upkeep tick: one GET; reloads when the schedules changed; marks this leader alive. */
  async upkeep(): Promise<void> {
    const { client, keys } = this.options;
    if (this.priorAliveMs === undefined) return;
    const version = (await client.get(keys.schedulesVersion)) ?? '0';
    if (version !== this.version) {
      await this.reload();
      this.version = version;
      this.kick();
    }
    if (this.schedules.size > 0) await client.hset(keys.scheduleState, 'alive', Date.now());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async reload(): Promise<void> {
    const { client, keys, log } = this.options;
    const [specs, state] = await Promise.all([
      client.hgetall(keys.schedules),
      client.hgetall(keys.scheduleState),
    ]);
    const next = new Map<string, Loaded>();
    for (const [name, text] of Object.entries(specs)) {
      const spec = parseScheduleSpec(text);
      if (!spec) {
        log.warn({ schedule: name }, 'unreadable schedule spec; it does not fire');
        continue;
      }
      // A pass may have fired a tick after the state was read: never go back behind what it fired.
      const fired = this.schedules.get(name)?.lastMs ?? 0;
      next.set(name, { spec, lastMs: Math.max(fired, Number(state[`${name}:last`] ?? 0)) });
    }
    this.schedules = next;
  }

  /** Runs a pass now (or once more after the one running). */
  private kick(): void {
    if (this.stopped || !this.options.isCurrent()) return;
    if (this.passState.kind === 'running') {
      this.passState.again = true;
      return;
    }
    clearTimeout(this.timer);
    const state: { kind: 'running'; again: boolean } = { kind: 'running', again: false };
    this.passState = state;
    void this.pass().finally(() => {
      this.passState = { kind: 'idle' };
      if (state.again) this.kick();
    });
  }

  private async pass(): Promise<void> {
    const { guard, log } = this.options;
    let again = false;
    try {
      for (const [name, loaded] of this.schedules) {
        if (this.stopped) return;
        again = (await guard(() => this.fireDue(name, loaded))) || again;
      }
    } catch (error) {
      if (error instanceof FencedError || error instanceof LeadershipLostError) {
        this.stop();
        await this.options.onLost(error);
        return;
      }
      log.warn({ err: error }, 'schedule tick failed; will retry');
      this.arm(1_000);
      return;
    }
    this.arm(again ? 0 : this.untilNextMs());
  }

  /** Fires (or skips) every tick of one schedule due now; true when more are due than one pass takes. */
  private async fireDue(name: string, loaded: Loaded): Promise<boolean> {
    const { spec } = loaded;
    const { fire, metrics, afterFire, graceMs } = this.options;
    const now = Date.now();
    const aliveUntil = Math.max(this.priorAliveMs ?? 0, spec.createdMs) + graceMs;
    const ticks = planTicks(spec, loaded.lastMs, now, aliveUntil, this.takeoverMs);
    const body = Buffer.from(spec.body, 'base64');
    for (const tick of ticks) {
      const id = scheduleTickId(name, tick.dueMs);
      const payload = tick.fire ? encodeEnvelope({ id }, body) : '';
      const reply = await fire({ name, dueMs: tick.dueMs, id, payload });
      loaded.lastMs = Math.max(loaded.lastMs, reply.last);
      if (reply.fired && tick.fire) {
        metrics.scheduleRuns.inc({ schedule: name });
        metrics.scheduleLag.observe(Math.max(0, Date.now() - tick.dueMs) / 1000);
        afterFire();
      }
    }
    return ticks.length >= MAX_TICKS_PER_PASS;
  }

  private untilNextMs(): number | undefined {
    let earliest: number | undefined;
    for (const { spec, lastMs } of this.schedules.values()) {
      const due = nextDueAfter(spec, lastMs);
      if (due !== undefined && (earliest === undefined || due < earliest)) earliest = due;
    }
    return earliest === undefined ? undefined : Math.max(0, earliest - Date.now());
  }

  private arm(waitMs: number | undefined): void {
    clearTimeout(this.timer);
    if (this.stopped || waitMs === undefined) return;
    this.timer = setTimeout(() => this.kick(), Math.min(waitMs, MAX_WAIT_MS));
  }
}
