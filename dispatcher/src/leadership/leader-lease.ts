import { performance } from 'node:perf_hooks';
import {
  closeQuietly,
  createConnection,
  createDataConnection,
  type DataConnectionSettings,
  LeadershipLostError,
  LeaseContendedError,
  RedisUnavailableError,
  redactRedisUrl,
  type TlsSettings,
} from '@redispatch/shared';
import { ExecutionError, type Lock, Redlock, ResourceLockedError } from '@sesamecare-oss/redlock';
import type { Cluster, Redis } from 'ioredis';

/** One renewal attempt failed; the lease it was extending is still valid for `validForMs()`. */
export class LeaseRenewalError extends Error {
  override readonly name = 'LeaseRenewalError';
}

/** Clock drift allowance, as Redlock's paper: a fraction of the lease plus Redis's 1 ms expiry precision. */
const DRIFT_FACTOR = 0.01;

export interface LeaderLeaseOptions {
  lockUrls: readonly string[];
  tls: TlsSettings;
  resource: string;
  leaseMs: number;
  name: string;
  /**
   * With no lock URLs: the lease is kept on this Redis Cluster (one Redlock "master": the node that
   * serves the lease key). Production deployments name 3 or 5 independent masters instead.
   */
  lockCluster?: Omit<DataConnectionSettings, 'name' | 'commandTimeoutMs'> | undefined;
}

/**
 * The leader lease: a Redlock lock over K independent masters, behind our own interface so nothing
 * else sees Redlock's types (see DESIGN.md "One writer"). Validity is tracked on the monotonic clock:
 * `validForMs()` turns negative when the lease may have expired, whatever the wall clock says, so a
 * process resumed after SIGSTOP knows before writing that it may no longer lead.
 */
export class LeaderLease {
  private readonly clients: (Redis | Cluster)[];
  private readonly redlock: Redlock;
  private lock: Lock | undefined;
  private validUntil = 0;
  private readonly connecting: Promise<void>;
  /** Last connection error per master: Redlock only sees "stream isn't writeable", not why (WRONGPASS, refused). */
  private readonly lastErrors: (string | undefined)[];

  constructor(private readonly options: LeaderLeaseOptions) {
    // A renewal starts lease/3 after the last one succeeded and may take up to lease/3 before it is
    // abandoned, so it always completes (or fails) before 2/3 of the lease: a slow or dead master can
    // delay a renewal but never let the lease lapse unnoticed.
    const timeout = Math.max(50, Math.floor(options.leaseMs / 3));
    this.clients =
      options.lockUrls.length === 0 && options.lockCluster
        ? [
            createDataConnection('lock', {
              ...options.lockCluster,
              commandTimeoutMs: timeout,
              name: `${options.name}:lock`,
            }),
          ]
        : options.lockUrls.map((url, index) =>
            createConnection('lock', {
              url,
              tls: options.tls,
              commandTimeoutMs: timeout,
              name: `${options.name}:lock${index}`,
            }),
          );
    this.lastErrors = this.clients.map(() => undefined);
    this.clients.forEach((client, index) => {
      client.on('error', (error: Error) => {
        this.lastErrors[index] = error.message.replace(/\s+/g, ' ').trim();
      });
      client.on('ready', () => {
        this.lastErrors[index] = undefined;
      });
    });
    // The first acquire waits (bounded) for the initial connections, so it is not refused merely
    // because the sockets were still opening; a master that is down stays down and votes against.
    const settleLimit = new Promise((resolve) => setTimeout(resolve, options.leaseMs).unref());
    this.connecting = Promise.race([
      Promise.allSettled(this.clients.map((client) => client.connect())),
      settleLimit,
    ]).then(() => undefined);
    this.redlock = new Redlock(this.clients, { driftFactor: DRIFT_FACTOR, retryCount: 0 });
    // Redlock re-emits per-client errors; they are already reflected in each call's outcome.
    this.redlock.on('error', () => {});
  }

  get held(): boolean {
    return this.lock !== undefined && this.validForMs() > 0;
  }

  /** Milliseconds of guaranteed validity left (monotonic clock); <= 0 means the lease may be gone. */
  validForMs(): number {
    return this.validUntil - performance.now();
  }

  /**
   * One acquisition attempt. Resolves when this process now holds the lease; rejects with
   * LeaseContendedError when another holder has it, RedisUnavailableError when no quorum answered.
   */
  /** Refuses to write once the lease may have run out on the monotonic clock (e.g. after SIGSTOP). */
  async guard<T>(write: () => Promise<T>): Promise<T> {
    if (this.validForMs() <= 0) throw new LeadershipLostError('lease validity ran out before the write');
    return write();
  }

  async acquire(): Promise<void> {
    await this.connecting;
    const started = performance.now();
    try {
      this.lock = await this.redlock.acquire([this.options.resource], this.options.leaseMs);
      this.validUntil = started + this.options.leaseMs - this.drift();
    } catch (error) {
      throw await this.classify(error, 'acquire');
    }
  }

  /**
   * Extends the lease by a full period. A failed attempt keeps the current lease: its validity is
   * still counted on the monotonic clock from the last success, so the caller may retry while
   * `validForMs()` says it provably holds (LeaseRenewal) and must step down once it is nearly spent.
   * Rejects with LeadershipLostError when the lease had already run out (nothing left to retry).
   */
  async renew(): Promise<void> {
    const lock = this.lock;
    if (!lock || this.validForMs() <= 0) {
      this.lock = undefined;
      throw new LeadershipLostError('lease expired before it could be renewed');
    }
    const started = performance.now();
    try {
      const extended = await lock.extend(this.options.leaseMs);
      // Released (stepped down) while the attempt was in flight: a late success must not revive it.
      if (this.lock !== lock) throw new LeadershipLostError('lease released while a renewal was in flight');
      this.lock = extended;
      this.validUntil = started + this.options.leaseMs - this.drift();
    } catch (error) {
      if (error instanceof LeadershipLostError) throw error;
      const cause = await this.classify(error, 'renew');
      throw new LeaseRenewalError(`lease renewal failed: ${cause.message}`, { cause });
    }
  }

  /** Gives the lease up so a standby can take it now rather than after expiry. Never throws. */
  async release(): Promise<void> {
    const lock = this.lock;
    this.lock = undefined;
    this.validUntil = 0;
    if (!lock) return;
    try {
      await lock.release();
    } catch {
      // Unreleased locks expire on their own after leaseMs.
    }
  }

  async close(): Promise<void> {
    await this.release();
    await Promise.all(this.clients.map((client) => closeQuietly(client)));
  }

  /** Masters not connected, as `REDISPATCH_LOCK_URLS entry N <redacted url>: <last error>`. */
  private unreachable(): string[] {
    return this.clients.flatMap((client, index) =>
      client.status === 'ready'
        ? []
        : [
            this.options.lockUrls.length === 0
              ? `REDISPATCH_CLUSTER_NODES (the lease is kept on the cluster): ${this.lastErrors[index] ?? client.status}`
              : `REDISPATCH_LOCK_URLS entry ${index + 1} ${redactRedisUrl(this.options.lockUrls[index] ?? '')}: ${this.lastErrors[index] ?? client.status}`,
          ],
    );
  }

  private drift(): number {
    return Math.round(DRIFT_FACTOR * this.options.leaseMs) + 2;
  }

  private async classify(error: unknown, operation: string): Promise<Error> {
    if (error instanceof ExecutionError) {
      const stats = await Promise.all(error.attempts).catch(() => []);
      const against = stats.flatMap((s) => [...s.votesAgainst.values()]);
      const quorum = stats[0]?.quorumSize ?? Math.floor(this.clients.length / 2) + 1;
      const locked = against.filter((e) => e instanceof ResourceLockedError).length;
      if (locked > 0 && locked >= this.clients.length - quorum + 1) {
        return new LeaseContendedError(`lease ${operation}: held by another dispatcher`, { cause: error });
      }
      const reasons = [...new Set([...against.map((e) => e.message), ...this.unreachable()])].join('; ');
      if (locked > 0) {
        return new LeaseContendedError(`lease ${operation}: no quorum (${reasons})`, { cause: error });
      }
      return new RedisUnavailableError(`lease ${operation}: no quorum of lock masters (${reasons})`, {
        cause: error,
      });
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}
