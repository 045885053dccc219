import {
  createConnection,
  createKeys,
  decodeEnvelope,
  encodeEnvelope,
  framePayload,
  listDeadLetters,
  OPTIONS,
} from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli-process.js';
import { fleet, testConfig, testEnv, uniquePrefix } from './helpers/in-process.js';

let server: RedisHandle;
let admin: Redis;

beforeAll(async () => {
  server = await startRedis();
  admin = createConnection('command', {
    url: server.url,
    tls: { insecure: false },
    commandTimeoutMs: 5_000,
    name: 'admin',
  });
  await admin.connect();
});
afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const count = (items: string[]) => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
};

describe('binary and hostile payloads through a real leader and worker', () => {
  it('round-trips every byte value byte-exact, dead-letters malformed envelopes and oversize payloads with their reason', async () => {
    const limit = 300;
    const prefix = uniquePrefix('binary');
    const keys = createKeys(prefix);
    const config = testConfig(server.url, prefix, { REDISPATCH_MAX_PAYLOAD_BYTES: String(limit) });
    const ascending = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const descending = Buffer.from(ascending).reverse();
    const seed = 20_261_202;
    const plain = [
      ascending,
      descending,
      Buffer.alloc(0),
      Buffer.from([0x00]),
      Buffer.from([0xff, 0xfe]),
      Buffer.alloc(limit, 0xfd),
      ...fc
        .sample(fc.uint8Array({ minLength: 8, maxLength: limit }), { numRuns: 60, seed })
        .filter((bytes) => bytes[0] !== 0xfe)
        .map((bytes) => Buffer.from(bytes)),
    ];
    // Bodies that themselves start with 0xFE travel inside an envelope (the documented rule).
    const enveloped = [
      {
        payload: framePayload(Buffer.concat([Buffer.from([0xfe]), ascending.subarray(0, 200)])),
        replyTo: undefined,
      },
      ...fc
        .sample(fc.uint8Array({ minLength: 0, maxLength: 200 }), { numRuns: 20, seed: seed + 1 })
        .map((bytes, i) => ({
          payload: encodeEnvelope({ replyTo: `r/${i}` }, Buffer.concat([Buffer.from([0xfe]), bytes])),
          replyTo: `r/${i}`,
        })),
    ].map(({ payload, replyTo }) => ({ payload: Buffer.from(payload as Uint8Array), replyTo }));
    // Marker byte, not a valid envelope: bad versions, reserved flags, truncated fields.
    const malformed = [
      Buffer.from([0xfe]),
      Buffer.from([0xfe, 0x01]),
      Buffer.concat([Buffer.from([0xfe]), ascending.subarray(0, 200)]),
      Buffer.from([0xfe, 0x01, 0xc0, 0x41]),
      Buffer.from([0xfe, 0x01, 0x01, 0x00, 0x41]),
      Buffer.from([0xfe, 0x01, 0x02, 0x00, 0x00]),
      ...fc
        .sample(fc.tuple(fc.constantFrom(0x01, 0x02, 0xff), fc.uint8Array({ minLength: 1, maxLength: 40 })), {
          numRuns: 40,
          seed: seed + 2,
        })
        .map(([version, rest]) => Buffer.concat([Buffer.from([0xfe, version]), rest]))
        .filter((payload) => decodeEnvelope(payload).kind === 'malformed'),
    ];
    const oversize = [
      Buffer.alloc(limit + 1, 0x61),
      Buffer.from(
        fc.sample(fc.uint8Array({ minLength: 1_000, maxLength: 1_000 }), { numRuns: 1, seed })[0] ?? [],
      ),
      Buffer.concat([Buffer.from([0xfe, 0x01, 0x00]), Buffer.alloc(limit, 0xfe)]),
    ];

    const bodies: Buffer[] = [];
    const replies: (string | undefined)[] = [];
    const f = fleet(config);
    try {
      await f.startDispatcher();
      await f.startWorker(async (msg) => {
        bodies.push(Buffer.from(msg.body));
        replies.push(msg.header?.replyTo);
      });
      await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
      await expect
        .poll(async () => Number(((await admin.pubsub('NUMSUB', config.channel)) as [string, number])[1]), {
          timeout: 10_000,
        })
        .toBe(1);

      // All in one pipeline, interleaved: rejected payloads must not hold up their batch-mates.
      const all = [...plain, ...enveloped.map((e) => e.payload), ...malformed, ...oversize];
      const order =
        fc.sample(fc.shuffledSubarray(all, { minLength: all.length }), { numRuns: 1, seed })[0] ?? all;
      const pipeline = admin.pipeline();
      for (const payload of order) pipeline.publish(config.channel, payload);
      await pipeline.exec();

      const delivered = plain.length + enveloped.length;
      await expect.poll(() => bodies.length, { timeout: 10_000 }).toBe(delivered);
      await expect
        .poll(() => admin.zcard(keys.dlq), { timeout: 5_000 })
        .toBe(malformed.length + oversize.length);

      // Byte-exact: every expected body exactly once, nothing else.
      const expected = [...plain.map(hex), ...enveloped.map((e) => hex(decodeBody(e.payload)))];
      expect(count(bodies.map(hex))).toEqual(count(expected));
      expect(replies.filter((r) => r !== undefined).sort()).toEqual(
        enveloped.flatMap((e) => (e.replyTo ? [e.replyTo] : [])).sort(),
      );

      // Dead letters keep the payload byte-exact, with the documented reason.
      const reasons = new Map<string, string>([
        ...malformed.map((p): [string, string] => [hex(p), `malformed envelope: ${reasonOf(p)}`]),
        ...oversize.map((p): [string, string] => [
          hex(p),
          `oversize: ${p.length} bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=${limit}`,
        ]),
      ]);
      const letters = await listDeadLetters(admin, keys, 1_000);
      expect(count(letters.map((l) => hex(l.body)))).toEqual(count([...reasons.keys()]));
      for (const letter of letters) expect(letter.reason).toBe(reasons.get(hex(letter.body)));

      // And `redispatch dlq list` shows them the same way.
      const list = await runCli(['dlq', 'list', '--json', '--limit', '1000'], testEnv(server.url, prefix));
      expect(list.code).toBe(0);
      const listed = list.lines.map((line) => JSON.parse(line) as { body: string; reason: string });
      expect(listed).toHaveLength(reasons.size);
      for (const entry of listed)
        expect(entry.reason).toBe(reasons.get(Buffer.from(entry.body, 'base64').toString('hex')));
      const text = await runCli(['dlq', 'list', '--limit', '1000'], testEnv(server.url, prefix));
      expect(text.lines.filter((line) => line.includes('reason="oversize: '))).toHaveLength(oversize.length);
    } finally {
      await f.close();
    }
  });
});

function decodeBody(payload: Buffer): Buffer {
  const decoded = decodeEnvelope(payload);
  if (decoded.kind !== 'envelope') throw new Error(`test bug: not an envelope (${decoded.kind})`);
  return decoded.body;
}

function reasonOf(payload: Buffer): string {
  const decoded = decodeEnvelope(payload);
  if (decoded.kind !== 'malformed') throw new Error(`test bug: not malformed (${decoded.kind})`);
  return decoded.reason;
}

describe('the CLI under garbage flags', () => {
  const known = new Set(Object.values(OPTIONS).map((spec) => spec.flag.split(' ')[0]));
  const numericFlags = Object.values(OPTIONS)
    .filter((spec) => spec.env.endsWith('_MS') || spec.flag.endsWith('<n>'))
    .map((spec) => spec.flag.split(' ')[0] ?? '');
  const word = fc.stringMatching(/^[a-z][a-z-]{2,14}$/);
  // Not a number, not an option-looking word, and no NUL (a process argument cannot hold one).
  const garbage = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 20 })
    .filter((s) => !/^\s*-?\d+\s*$/.test(s) && !s.startsWith('-') && !s.includes('\u0000'));
  const env = testEnv('redis://127.0.0.1:1', uniquePrefix('garbage'));

  it('exits 2 with one line for an unknown flag, command or missing value', async () => {
    const cases = [
      ...fc
        .sample(fc.tuple(fc.constantFrom('stats', 'dispatcher', 'worker', 'dlq list'), word, garbage), {
          numRuns: 4,
          seed: 7,
        })
        .filter(([, flag]) => !known.has(`--${flag}`))
        .map(([command, flag, value]) => [...command.split(' '), `--${flag}`, value]),
      ['frobnicate', '--x'],
      ['stats', '--lease-ms'],
      ['dispatcher', 'unexpected-argument'],
    ];
    for (const args of cases) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.lines, args.join(' ')).toHaveLength(1);
      expect(result.lines[0]).toMatch(/^redispatch: .*\(see --help\)$/);
    }
  });

  it('exits 2 naming each bad setting, one line each, for known flags with garbage values', async () => {
    const cases = fc.sample(
      fc.uniqueArray(fc.tuple(fc.constantFrom(...numericFlags), garbage), {
        minLength: 1,
        maxLength: 3,
        selector: ([flag]) => flag,
      }),
      { numRuns: 4, seed: 11 },
    );
    for (const pairs of cases) {
      const args = ['stats', ...pairs.flat()];
      const result = await runCli(args, env);
      expect(result.code, JSON.stringify(args)).toBe(2);
      expect(result.lines, JSON.stringify(args)).toHaveLength(pairs.length);
      for (const line of result.lines) expect(line).toMatch(/^redispatch: REDISPATCH_[A-Z_]+ \(--[a-z-]+\) /);
    }
  });
});
