import { LeadershipLostError, LeaseContendedError, RedisUnavailableError } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLease } from '../../src/leadership/leader-lease.js';

let masters: RedisHandle[] = [];
const leases: LeaderLease[] = [];
let resourceCounter = 0;

beforeAll(async () => {
  masters = await Promise.all([startRedis(), startRedis(), startRedis()]);
});
afterAll(async () => {
  await Promise.all(masters.map((m) => m.stop()));
});
afterEach(async () => {
  await Promise.all(leases.splice(0).map((lease) => lease.close()));
});

function lease(
  leaseMs = 1_000,
  urls = masters.map((m) => m.url),
  resource = `lease-${resourceCounter}`,
): LeaderLease {
  const created = new LeaderLease({
    lockUrls: urls,
    tls: { insecure: false },
    resource,
    leaseMs,
    name: 'test',
  });
  leases.push(created);
  return created;
}

describe('LeaderLease over three real masters', () => {
  it('grants one holder; a contender is told the lease is contended, not unavailable', async () => {
    resourceCounter += 1;
    const a = lease();
    const b = lease();
    await a.acquire();
    expect(a.held).toBe(true);
    // Valid now, never longer than the lease it asked for (how much is left depends on the box's load).
    expect(a.validForMs()).toBeGreaterThan(0);
    expect(a.validForMs()).toBeLessThanOrEqual(1_000);
    await expect(b.acquire()).rejects.toBeInstanceOf(LeaseContendedError);
    await a.release();
    await b.acquire();
    expect(b.held).toBe(true);
  });

  it('renews by a full period and loses the lease when someone else took it after expiry', async () => {
    resourceCounter += 1;
    const leaseMs = 2_000;
    const a = lease(leaseMs);
    await a.acquire();
    // Half the lease gone, then a renewal: it extends by a full period from now, so more is left after
    // it than before (an ordering; unless the renewal itself took half a lease).
    await new Promise((resolve) => setTimeout(resolve, leaseMs / 2));
    const before = a.validForMs();
    await a.renew();
    expect(before).toBeLessThanOrEqual(leaseMs / 2);
    expect(a.validForMs()).toBeGreaterThan(before);
    await new Promise((resolve) => setTimeout(resolve, leaseMs + 100));
    const b = lease(leaseMs);
    await b.acquire();
    await expect(a.renew()).rejects.toBeInstanceOf(LeadershipLostError);
    expect(a.held).toBe(false);
  });

  it('keeps working with one master of three down, and refuses with two down until they return', async () => {
    resourceCounter += 1;
    const [m1, m2] = masters as [RedisHandle, RedisHandle, RedisHandle];
    m1.signal('SIGSTOP');
    try {
      const a = lease(1_000);
      await a.acquire();
      expect(a.held).toBe(true);
      await a.release();
      m2.signal('SIGSTOP');
      resourceCounter += 1;
      const b = lease(1_000);
      await expect(b.acquire()).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(b.held).toBe(false);
      m2.signal('SIGCONT');
      await expect
        .poll(
          async () =>
            b.acquire().then(
              () => true,
              () => false,
            ),
          { timeout: 5_000 },
        )
        .toBe(true);
    } finally {
      m1.signal('SIGCONT');
      m2.signal('SIGCONT');
    }
  });
});
