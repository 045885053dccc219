import { type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLease } from '../../src/leadership/leader-lease.js';
import { LeaseRenewal } from '../../src/leadership/lease-renewal.js';

// Issue 22 item 2: a failed renewal is retried while the lease provably holds (monotonic clock), and
// the leader steps down only when its validity is nearly spent — never after it lapsed.
let masters: RedisHandle[] = [];
const leases: LeaderLease[] = [];
const renewals: LeaseRenewal[] = [];
let resourceCounter = 0;

beforeAll(async () => {
  masters = await Promise.all([startRedisProcess(), startRedisProcess(), startRedisProcess()]);
});
afterAll(async () => {
  await Promise.all(masters.map((m) => m.stop()));
});
afterEach(async () => {
  for (const m of masters) m.signal('SIGCONT');
  for (const r of renewals.splice(0)) r.stop();
  await Promise.all(leases.splice(0).map((lease) => lease.close()));
});

function collectingLogger(lines: Record<string, unknown>[]) {
  return pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
}

async function leaseWithRenewal(leaseMs: number) {
  resourceCounter += 1;
  const lease = new LeaderLease({
    lockUrls: masters.map((m) => m.url),
    tls: { insecure: false },
    resource: `renewal-${resourceCounter}`,
    leaseMs,
    name: 'renewal-test',
  });
  leases.push(lease);
  await lease.acquire();
  const lines: Record<string, unknown>[] = [];
  const failed: number[] = [];
  const renewal = new LeaseRenewal(
    lease,
    leaseMs,
    () => true,
    async () => {
      failed.push(lease.validForMs());
    },
    collectingLogger(lines),
  );
  renewals.push(renewal);
  return { lease, lines, failed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LeaseRenewal over three real masters', () => {
  it('keeps the lease when two masters stall through one renewal attempt and answer again before it runs out', async () => {
    const leaseMs = 3_000;
    const { lease, lines, failed } = await leaseWithRenewal(leaseMs);
    const [m1, m2] = masters as [RedisHandle, RedisHandle, RedisHandle];
    // The first renewal starts at lease/3 (1 s) and times out at 2 s with one vote of three.
    m1.signal('SIGSTOP');
    m2.signal('SIGSTOP');
    await expect
      .poll(() => lines.some((l) => l.msg === 'lease renewal failed; retrying while the lease holds'), {
        timeout: 5_000,
        interval: 10,
      })
      .toBe(true);
    m1.signal('SIGCONT');
    m2.signal('SIGCONT');
    await expect
      .poll(() => lines.some((l) => l.msg === 'lease renewed after a retry'), {
        timeout: 5_000,
        interval: 10,
      })
      .toBe(true);
    // Two more full periods: renewals keep succeeding, nobody stepped down.
    await sleep(leaseMs);
    expect(failed, JSON.stringify(lines)).toEqual([]);
    expect(lease.held).toBe(true);
    expect(lease.validForMs()).toBeGreaterThan(0);
  }, 20_000);

  it('steps down while the lease still holds when no quorum answers before its validity is spent', async () => {
    const leaseMs = 1_500;
    const { lease, lines, failed } = await leaseWithRenewal(leaseMs);
    const [m1, m2] = masters as [RedisHandle, RedisHandle, RedisHandle];
    m1.signal('SIGSTOP');
    m2.signal('SIGSTOP');
    await expect.poll(() => failed.length, { timeout: 5_000, interval: 10 }).toBe(1);
    // Called before the lease could lapse on the monotonic clock, after at least one retry or a
    // deadline with the attempt still unanswered.
    expect(failed[0]).toBeGreaterThan(0);
    expect(lines.some((l) => /stepping down/.test(String(l.msg)))).toBe(true);
    await sleep(leaseMs);
    expect(failed).toHaveLength(1);
    expect(lease.validForMs()).toBeLessThanOrEqual(0);
  }, 20_000);
});
