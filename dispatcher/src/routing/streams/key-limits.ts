import { performance } from 'node:perf_hooks';
import { type Config, type DataClient, type PartitionKeys, scripts } from '@redispatch/shared';
import { IDLE_RELEASE_MS, MIN_RELEASE_MS, type ReleaseResult } from '../rate-release.js';

/**
 * The per-key limits (REDISPATCH_KEY_CONCURRENCY, REDISPATCH_KEY_RATE_LIMIT, REDISPATCH_KEY_RATE_BURST),
 * or none. Burst 0 means one second of the rate, at least 1.
 */
export type KeyLimits =
  | { kind: 'none' }
  | { kind: 'limited'; concurrency: number; rate: number; burst: number };

export function keyLimits(
  config: Pick<Config, 'keyConcurrency' | 'keyRateLimit' | 'keyRateBurst'>,
): KeyLimits {
  const { keyConcurrency: concurrency, keyRateLimit: rate, keyRateBurst } = config;
  if (concurrency <= 0 && rate <= 0) return { kind: 'none' };
  const burst = rate <= 0 ? 0 : keyRateBurst > 0 ? keyRateBurst : Math.max(1, Math.ceil(rate));
  return { kind: 'limited', concurrency: Math.max(0, concurrency), rate: Math.max(0, rate), burst };
}

/** Most due keys one partition's release call takes (bounds the script's run time). */
const KEY_LIMIT = 500;
/** Every partition is read at least this often: a settle that freed a slot may have queued a key for a token. */
const SWEEP_MS = 200;

/**
 * Streams mode, per-key rate limit: the leader appends held messages whose key's next token is due
 * (streamKeyRelease-2.lua, fenced by each partition's fence), timed by each partition's earliest due key
 * and a sweep of every partition, so a new leader simply continues from the due sets in Redis.
 */
export class StreamKeyRelease {
  /** Per partition: when (performance.now ms) its next key is due; 0 = read it on the next pass. */
  private readonly nextDue: number[];
  private lastSweep = 0;

  constructor(
    private readonly client: DataClient,
    private readonly partitions: readonly PartitionKeys[],
    private readonly epoch: number,
  ) {
    this.nextDue = partitions.map(() => 0);
  }

  /** The writer held a message by the rate on this partition: read its due keys on the next pass. */
  heldByRate(partition: number): void {
    this.nextDue[partition] = 0;
  }

  async release(): Promise<ReleaseResult> {
    const now = performance.now();
    const sweep = now - this.lastSweep >= SWEEP_MS;
    if (sweep) this.lastSweep = now;
    const due = this.partitions.filter((_, i) => sweep || (this.nextDue[i] ?? 0) <= now);
    const replies = await Promise.all(
      due.map((p) => scripts.streamKeyRelease(this.client, p, { epoch: this.epoch, keyLimit: KEY_LIMIT })),
    );
    let released = 0;
    replies.forEach((reply, i) => {
      const index = (due[i] as PartitionKeys).index;
      released += reply.released;
      this.nextDue[index] = reply.more ? 0 : reply.waitMs < 0 ? Number.POSITIVE_INFINITY : now + reply.waitMs;
    });
    const earliest = Math.min(this.lastSweep + SWEEP_MS, ...this.nextDue);
    const nextMs = Math.max(MIN_RELEASE_MS, Math.min(IDLE_RELEASE_MS * 4, earliest - performance.now()));
    return { released, nextMs };
  }
}

/** Most keys (and, draining, most messages) one partition's takeover re-check call takes. */
const SCAN_LIMIT = 200;

/**
 * Streams mode, once per leader term, per partition (streamKeyRelease-2.lua 'all' / 'drain', fenced):
 * stores the leader's limits and re-checks every key with held messages, page by page, appending what
 * the limits allow now. With both limits off it drains them all without a slot, so an accepted message
 * never waits for a limit that was turned off. Costs one call per partition per term when nothing is held.
 */
export class KeyGateSweep {
  /** Per partition: the SSCAN cursor to continue from, or 'done'. */
  private readonly cursors: string[];

  constructor(
    private readonly client: DataClient,
    private readonly partitions: readonly PartitionKeys[],
    private readonly epoch: number,
    private readonly limits: KeyLimits,
  ) {
    this.cursors = partitions.map(() => '0');
  }

  /** Starts over (routing was paused or resumed): every partition is read again. */
  restart(): void {
    this.cursors.fill('0');
  }

  /**
   * One page per unfinished partition; true while some partition has more to go. Paused: only marks
   * every partition paused (a settle then frees a slot without letting the key's next message out).
   */
  async run(paused = false): Promise<{ released: number; more: boolean }> {
    const limits = this.limits;
    const mode = limits.kind === 'none' ? 'drain' : 'all';
    const settings = limits.kind === 'none' ? { concurrency: 0, rate: 0, burst: 0 } : limits;
    const todo = this.partitions.filter((p) => this.cursors[p.index] !== 'done');
    const replies = await Promise.all(
      todo.map((p) =>
        scripts.streamKeyRelease(this.client, p, {
          epoch: this.epoch,
          keyLimit: SCAN_LIMIT,
          scan: {
            mode,
            concurrency: settings.concurrency,
            rate: settings.rate,
            burst: settings.burst,
            cursor: this.cursors[p.index] ?? '0',
            paused,
          },
        }),
      ),
    );
    let released = 0;
    replies.forEach((reply, i) => {
      const index = (todo[i] as PartitionKeys).index;
      released += reply.released;
      // Draining ends only when nothing is held; a re-check ends when the scan has seen every key.
      const finished = paused || (mode === 'drain' ? reply.keysWaiting === 0 : reply.cursor === '0');
      this.cursors[index] = finished ? 'done' : reply.cursor;
    });
    return { released, more: this.cursors.some((c) => c !== 'done') };
  }
}
