import {
  ConfigError,
  type ConfigFlags,
  loadConfig,
  OPTIONS,
  type OptionKey,
  parseRedisUrl,
} from '@redispatch/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Hostile configuration: arbitrary values for every setting, from the environment and from flags,
// with distinctive secrets inside every URL kind. loadConfig must return a frozen, valid config or
// throw a ConfigError whose every problem is one line naming a REDISPATCH_* variable, without a secret.
const SECRET = 'Zk-fuzz-S3CR3T-q7';
const KEYS = Object.keys(OPTIONS) as OptionKey[];
const URL_KEYS = new Set<OptionKey>(['redisUrl', 'lockUrls', 'natsUrl']);

const host = fc.constantFrom('127.0.0.1', 'redis', '[::1]', 'h.example', '', 'a b', '%zz');
const port = fc.constantFrom('', ':6379', ':0', ':99999', ':-1', ':x', ':65535');
const path = fc.constantFrom('', '/', '/0', '/15', '/x', '/-1', '/1/2', '?a=b', '#frag');
const secretUrl = fc
  .tuple(
    fc.constantFrom('redis', 'rediss', 'nats', 'tls', 'http', 'ftp', 'redis:', ''),
    fc.constantFrom(`:${SECRET}@`, `user:${SECRET}@`, `${SECRET}@`, `u:${encodeURIComponent(SECRET)}@`),
    host,
    port,
    path,
  )
  .map(([scheme, auth, h, p, rest]) => `${scheme}://${auth}${h}${p}${rest}`);
const urlValue = fc.oneof(
  secretUrl,
  fc.array(secretUrl, { minLength: 1, maxLength: 4 }).map((urls) => urls.join(',')),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
/** Anything: empty, numbers at and past the limits, booleans, enum-ish words, control characters, emoji. */
const anyValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer({ min: -2, max: 1_000_000 }).map(String),
  fc.constantFrom('', ' ', '1e3', '0x10', '9007199254740993', '-0', '３', 'true', 'off', 'lists', 'streams'),
  fc.constantFrom('redis', 'nats', 'jetstream', 'affinity', 'debug', 'a\nREDISPATCH_FAKE', '\u0000', '💥'),
);
const valueFor = (key: OptionKey) => (URL_KEYS.has(key) ? urlValue : anyValue);

const envArb = fc.record(Object.fromEntries(KEYS.map((key) => [OPTIONS[key].env, valueFor(key)])), {
  requiredKeys: [],
}) as fc.Arbitrary<Record<string, string>>;
const flagsArb = fc.record(Object.fromEntries(KEYS.map((key) => [key, valueFor(key)])), {
  requiredKeys: [],
}) as fc.Arbitrary<ConfigFlags>;

function check(env: Record<string, string>, flags: ConfigFlags): void {
  let config: ReturnType<typeof loadConfig> | undefined;
  try {
    config = loadConfig(env, flags);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) {
      expect(problem).toMatch(/^REDISPATCH_[A-Z_]+ /);
      expect(problem).not.toMatch(/[\n\r]/);
      expect(problem).not.toContain(SECRET);
      expect(problem).not.toContain(encodeURIComponent(SECRET));
    }
    expect((error as Error).message).not.toContain(SECRET);
    return;
  }
  expect(Object.isFrozen(config)).toBe(true);
  expect(() => parseRedisUrl(config.redisUrl)).not.toThrow();
  for (const url of config.lockUrls) expect(() => parseRedisUrl(url)).not.toThrow();
  expect(config.lockUrls.length % 2).toBe(1);
  for (const key of ['leaseMs', 'ackTimeoutMs', 'maxAttempts', 'batchSize', 'metricsPort'] as const)
    expect(Number.isSafeInteger(config[key])).toBe(true);
  expect(config.workerTtlMs).toBeGreaterThanOrEqual(2 * config.heartbeatMs);
  expect(config.backoffBaseMs).toBeLessThanOrEqual(config.backoffMaxMs);
}

describe('loadConfig under hostile input (fast-check)', () => {
  it('returns a frozen valid config or a ConfigError of one-line problems naming variables, never a secret', () => {
    fc.assert(
      fc.property(envArb, flagsArb, (env, flags) => check(env, flags)),
      { numRuns: 1_000 },
    );
  });

  it('handles every URL setting alone with secret-bearing URLs', () => {
    fc.assert(
      fc.property(fc.constantFrom(...URL_KEYS), urlValue, fc.boolean(), (key, value, asFlag) =>
        asFlag ? check({}, { [key]: value }) : check({ [OPTIONS[key].env]: value }, {}),
      ),
      { numRuns: 1_000 },
    );
  });

  it('still accepts valid settings among the noise (the property is not vacuous)', () => {
    const config = loadConfig(
      { REDISPATCH_REDIS_URL: `redis://u:${SECRET}@127.0.0.1:6380/2`, REDISPATCH_LEASE_MS: '5000' },
      { lockUrls: `redis://:${SECRET}@a,redis://b,rediss://c`, prefetch: '3' },
    );
    expect(config.lockUrls).toHaveLength(3);
    expect(config.prefetch).toBe(3);
    expect(() => loadConfig({ REDISPATCH_LEASE_MS: 'a\nREDISPATCH_FAKE' })).toThrow(
      'REDISPATCH_LEASE_MS (--lease-ms) expected a whole number (got "a\\nREDISPATCH_FAKE")',
    );
  });
});
