import {
  ConfigError,
  createKeys,
  DEFAULT_LEASE_MS,
  loadConfig,
  OPTIONS,
  parseRedisUrl,
  redactRedisUrl,
} from '@redispatch/shared';
import { describe, expect, it } from 'vitest';

describe('loadConfig', () => {
  it('applies defaults, derives lock URLs from the data URL, and freezes the result', () => {
    const config = loadConfig({}, {});
    expect(config.leaseMs).toBe(DEFAULT_LEASE_MS);
    expect(config.mode).toBe('lists');
    expect(config.lockUrls).toEqual([config.redisUrl]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(config.instanceId).toMatch(/^[\w.-]+-\d+-[a-z0-9]+$/);
  });

  it('lets flags override the environment', () => {
    const config = loadConfig(
      { REDISPATCH_LEASE_MS: '5000', REDISPATCH_CHANNEL: 'env' },
      { leaseMs: '7000' },
    );
    expect(config.leaseMs).toBe(7000);
    expect(config.channel).toBe('env');
  });

  it('lists every problem at once, each naming its variable and flag', () => {
    let caught: unknown;
    try {
      loadConfig({
        REDISPATCH_LEASE_MS: 'abc',
        REDISPATCH_MODE: 'queues',
        REDISPATCH_REDIS_URL: 'http://localhost',
        REDISPATCH_MAX_ATTEMPTS: '0',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('REDISPATCH_LEASE_MS (--lease-ms)'))).toContain('whole number');
    expect(problems.find((p) => p.startsWith('REDISPATCH_MODE (--mode)'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('REDISPATCH_REDIS_URL (--redis-url)'))).toContain(
      'scheme "http"',
    );
    expect(problems.find((p) => p.startsWith('REDISPATCH_MAX_ATTEMPTS'))).toBeDefined();
  });

  it('rejects contradictions between settings', () => {
    expect(() => loadConfig({ REDISPATCH_HEARTBEAT_MS: '2000', REDISPATCH_WORKER_TTL_MS: '3000' })).toThrow(
      /REDISPATCH_WORKER_TTL_MS must be at least twice REDISPATCH_HEARTBEAT_MS/,
    );
    expect(() => loadConfig({ REDISPATCH_BACKOFF_BASE_MS: '9000', REDISPATCH_BACKOFF_MAX_MS: '10' })).toThrow(
      /REDISPATCH_BACKOFF_BASE_MS/,
    );
    expect(() => loadConfig({ REDISPATCH_LOCK_URLS: 'redis://a,redis://b' })).toThrow(/odd number/);
  });

  it('parses the cluster NAT map into ioredis natMap form and names malformed entries', () => {
    const config = loadConfig({
      REDISPATCH_MODE: 'streams',
      REDISPATCH_CLUSTER_NODES: '10.0.0.1:6379',
      REDISPATCH_CLUSTER_NAT_MAP: '10.0.0.1:6379=127.0.0.1:16379, [fd00::2]:6380=redis-b.example:443',
    });
    expect(config.clusterNatMap).toEqual({
      '10.0.0.1:6379': { host: '127.0.0.1', port: 16379 },
      'fd00::2:6380': { host: 'redis-b.example', port: 443 },
    });
    expect(() =>
      loadConfig({
        REDISPATCH_MODE: 'streams',
        REDISPATCH_CLUSTER_NODES: '10.0.0.1:6379',
        REDISPATCH_CLUSTER_NAT_MAP: '10.0.0.1:6379=127.0.0.1:16379,10.0.0.2:6379',
      }),
    ).toThrow(/REDISPATCH_CLUSTER_NAT_MAP.*entry 2 is not announced-host:port=reachable-host:port/);
    expect(() => loadConfig({ REDISPATCH_CLUSTER_NAT_MAP: '10.0.0.1:6379=127.0.0.1:1' })).toThrow(
      /REDISPATCH_CLUSTER_NAT_MAP is set but REDISPATCH_CLUSTER_NODES is not/,
    );
  });

  it('never echoes a URL (which may hold a password) in an error', () => {
    try {
      loadConfig({ REDISPATCH_LOCK_URLS: 'redis://:s3cret@host,ftp://:s3cret@x' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
      expect((error as Error).message).toContain('REDISPATCH_LOCK_URLS');
    }
  });

  it('has an env variable and a flag for every setting', () => {
    for (const [key, spec] of Object.entries(OPTIONS)) {
      expect(spec.env).toMatch(/^REDISPATCH_[A-Z_]+$/);
      const flag = spec.flag.split(' ')[0] ?? '';
      const camel = flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
      expect(camel, `flag ${flag} must map to the config key`).toBe(key);
    }
  });
});

describe('Redis URLs', () => {
  it('parses the usual forms', () => {
    expect(parseRedisUrl('redis://host:6380/2')).toMatchObject({
      host: 'host',
      port: 6380,
      db: 2,
      tls: false,
    });
    expect(parseRedisUrl('redis://:pa%40ss@host')).toMatchObject({
      password: 'pa@ss',
      port: 6379,
      username: undefined,
    });
    expect(parseRedisUrl('redis://user:pass@host')).toMatchObject({ username: 'user', password: 'pass' });
    expect(parseRedisUrl('rediss://host')).toMatchObject({ tls: true });
    expect(parseRedisUrl('redis://[::1]:7000')).toMatchObject({ host: '::1', port: 7000 });
  });

  it('rejects bad URLs with a reason', () => {
    expect(() => parseRedisUrl('not a url')).toThrow(/not a URL/);
    expect(() => parseRedisUrl('redis://host/x')).toThrow(/database/);
  });

  it('redacts passwords', () => {
    expect(redactRedisUrl('redis://u:secret@h:1/0')).toBe('redis://u:***@h:1/0');
  });
});

describe('key builder', () => {
  it('puts every key of a deployment in one hash slot', () => {
    const keys = createKeys('orders');
    const tagged = [
      keys.epoch,
      keys.body,
      keys.inflight,
      keys.backlog,
      keys.queue('w1'),
      keys.held('w1'),
      keys.dlq,
    ];
    for (const key of tagged) expect(key.startsWith('{orders}:')).toBe(true);
    expect(new Set(tagged).size).toBe(tagged.length);
  });
});
