import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeys, encodeOutboundEntry } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { call, startConsole } from '../helpers/console-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// The console's admin API against real processes (two dispatchers, a worker, the console) on one
// real redis-server, lists mode. Message states in both modes: console-lookup.test.ts.
const fx = useProcessFixture();
const REFUSING_HANDLER = fileURLToPath(new URL('../fixtures/refusing-handler.mjs', import.meta.url));
const TOKEN = 'console-api-test-token-0123';

type Json = Record<string, unknown>;
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Everything the checker handler recorded in `dir` (one key per handled message). */
function handled(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
}

/** The first `count` snapshot events of GET /api/events. */
async function snapshots(base: string, count: number): Promise<Json[]> {
  const res = await fetch(`${base}/api/events`);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body?.getReader();
  if (!reader) throw new Error('no event stream body');
  const found: Json[] = [];
  let text = '';
  while (found.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
    const frames = text.split('\n\n');
    text = frames.pop() ?? '';
    for (const frame of frames) {
      const data = /^event: snapshot\ndata: (.*)$/m.exec(frame)?.[1];
      if (data) found.push(JSON.parse(data) as Json);
    }
  }
  await reader.cancel();
  return found;
}

describe('console admin API (lists mode)', () => {
  it('serves stats as `stats --json` does, dead letters, actions with the token, and one-line errors', async () => {
    const prefix = uniquePrefix('capi');
    const keys = createKeys(prefix);
    const dir = fx.tempDir('capi');
    const env = {
      ...testEnv(fx.redis.url, prefix, { REDISPATCH_MAX_ATTEMPTS: '1', REDISPATCH_MAX_PAYLOAD_BYTES: '64' }),
      CHECK_DIR: dir,
    };
    fx.spawn(['dispatcher', '--instance-id', `${prefix}-d1`], env);
    fx.spawn(['dispatcher', '--instance-id', `${prefix}-d2`], env);
    const worker = fx.spawn(['worker', '--instance-id', `${prefix}-w1`, '--handler', REFUSING_HANDLER], env);
    await worker.waitForLog(/worker registered/);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 15_000 }).toBe(2);
    // The console replays bodies up to its own payload limit (1000), past the dispatchers' 64.
    const c = await startConsole(fx, {
      ...env,
      REDISPATCH_MAX_PAYLOAD_BYTES: '1000',
      REDISPATCH_CONSOLE_TOKEN: TOKEN,
    });

    // Dead letters: three oversize bodies the handler will accept once replayed, one too big even
    // for the console's limit, and two the handler refuses (one a script tag).
    for (let i = 0; i < 3; i++) await fx.admin.publish(env.REDISPATCH_CHANNEL, `big:${i}:${'x'.repeat(90)}`);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, `huge:0:${'y'.repeat(2000)}`);
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'fail-a');
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'fail-<script>alert(1)</script>');
    await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 15_000 }).toBe(6);

    // GET /api/stats: the fields of `stats --json`, the same leader and workers, both dispatchers.
    await expect
      .poll(async () => ((await call(c.url, '/api/stats')).json.dispatchers as Json[]).length, {
        timeout: 15_000,
      })
      .toBe(2);
    const stats = (await call(c.url, '/api/stats')).json;
    const cli = JSON.parse((await runCli(['stats', '--json'], env)).output) as Json;
    expect(Object.keys(stats).sort()).toEqual(Object.keys(cli).sort());
    expect(stats.mode).toBe('lists');
    expect((stats.leader as Json).id).toBe((cli.leader as Json).id);
    expect((stats.workers as Json[]).map((w) => w.id)).toEqual([`${prefix}-w1`]);
    expect(stats.deadLetters).toBe(6);
    const dispatchers = stats.dispatchers as Json[];
    expect(dispatchers.map((d) => d.role)).toEqual(['leader', 'standby']);
    expect(dispatchers[0]?.id).toBe((stats.leader as Json).id);
    expect(dispatchers.map((d) => d.id).sort()).toEqual([`${prefix}-d1`, `${prefix}-d2`]);
    for (const d of dispatchers)
      expect(Object.keys(d)).toEqual(expect.arrayContaining(['caughtUp', 'buffered']));
    expect((await call(c.url, '/api/console')).json).toEqual({ mode: 'lists', prefix, readOnly: false });

    // GET /api/dlq: newest first, pages, reason filter, body base64; bad parameters are 400 with one line.
    const all = (await call(c.url, '/api/dlq?limit=10')).json as { total: number; entries: Json[] };
    expect(all.total).toBe(6);
    expect(all.entries.map((e) => Buffer.from(String(e.body), 'base64').toString().slice(0, 6))).toEqual([
      'fail-<',
      'fail-a',
      'huge:0',
      'big:2:',
      'big:1:',
      'big:0:',
    ]);
    const [scriptLetter, failLetter, hugeLetter] = all.entries;
    expect(scriptLetter).toMatchObject({ attempts: 1, body: b64('fail-<script>alert(1)</script>') });
    expect(String(scriptLetter?.reason)).toContain('TypeError: handler refused');
    expect(Object.keys(scriptLetter ?? {}).sort()).toEqual([
      'attempts',
      'body',
      'deadAt',
      'id',
      'reason',
      'size',
    ]);
    const second = (await call(c.url, '/api/dlq?limit=2&offset=1')).json as {
      total: number;
      entries: Json[];
    };
    expect(second.entries.map((e) => e.id)).toEqual([failLetter?.id, hugeLetter?.id]);
    const refused = (await call(c.url, '/api/dlq?reason=TYPEERROR')).json as {
      total: number;
      entries: Json[];
    };
    expect(refused.total).toBe(2);
    for (const bad of ['limit=0', 'limit=501', 'limit=ten', 'offset=-1']) {
      const answer = await call(c.url, `/api/dlq?${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(answer.json.error, bad).toMatch(/^(limit|offset) must be /);
    }

    // GET /api/dlq/<id>: in full, with the handler's stack; an unknown id is 404.
    const shown = (await call(c.url, `/api/dlq/${encodeURIComponent(String(failLetter?.id))}`)).json;
    expect(((shown.entries as Json[])[0]?.stack as string) ?? '').toContain(
      'TypeError: handler refused fail-a',
    );
    expect(await call(c.url, '/api/dlq/no-such-id')).toMatchObject({
      status: 404,
      json: { error: 'no dead letter with id no-such-id' },
    });

    // POST without the token, or with a wrong one: 401, nothing changes.
    const purgeAll = { all: true };
    const anonymous = await call(c.url, '/api/dlq/purge', { body: purgeAll });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect(
      (await call(c.url, '/api/dlq/replay', { body: purgeAll, token: 'wrong-token-0123456789' })).status,
    ).toBe(401);
    expect(
      (await call(c.url, '/api/dlq/purge', { body: purgeAll, headers: { authorization: `Basic ${TOKEN}` } }))
        .status,
    ).toBe(401);
    expect(await fx.admin.zcard(keys.dlq)).toBe(6);

    // Bad action bodies: one line each, nothing changes.
    const badBodies: [unknown, number, RegExp][] = [
      ['not json', 400, /not valid JSON/],
      [[1, 2], 400, /JSON object/],
      [{}, 400, /exactly one of/],
      [{ ids: ['a'], all: true }, 400, /exactly one of/],
      [{ all: false }, 400, /"all" must be true/],
      [{ ids: [] }, 400, /non-empty array/],
      [{ ids: [7] }, 400, /only strings/],
      [{ ids: ['ok', 'bad\u0001'] }, 400, /control characters/],
      [{ ids: Array.from({ length: 1001 }, (_, i) => `m${i}`) }, 400, /at most 1000 ids/],
      [{ reason: '' }, 400, /must not be empty/],
      [{ every: true }, 400, /unknown field "every"/],
      [{ ids: ['x'.repeat(70_000)] }, 413, /over 65536 bytes/],
    ];
    for (const [body, status, error] of badBodies) {
      const answer = await call(c.url, '/api/dlq/purge', { body, token: TOKEN });
      expect(answer.status, JSON.stringify(body).slice(0, 60)).toBe(status);
      expect(answer.json.error).toMatch(error);
    }
    const plain = await call(c.url, '/api/dlq/purge', {
      body: '{"all":true}',
      token: TOKEN,
      headers: { 'content-type': 'text/plain' },
    });
    expect(plain).toMatchObject({ status: 415, json: { error: 'expected Content-Type: application/json' } });
    expect(await fx.admin.zcard(keys.dlq)).toBe(6);

    // The message lookup sees a dead letter as dead, with its reason and body.
    const dead = (await call(c.url, `/api/messages/${encodeURIComponent(String(failLetter?.id))}`)).json;
    expect(dead).toMatchObject({ id: failLetter?.id, state: 'dead', attempts: 1, body: b64('fail-a') });
    expect(String(dead.lastError)).toContain('TypeError');

    // Replay by ids: the three big bodies go back to the worker (which handles them); the huge one
    // is over the console's payload limit and stays; an unknown id is reported missing.
    const bigIds = all.entries.slice(3).map((e) => String(e.id));
    const replay = await call(c.url, '/api/dlq/replay', {
      body: { ids: [...bigIds, String(hugeLetter?.id), 'no-such-id'] },
      token: TOKEN,
    });
    expect(replay).toMatchObject({
      status: 200,
      json: { replayed: 3, missing: ['no-such-id'], oversize: [hugeLetter?.id] },
    });
    await expect.poll(() => handled(dir).sort(), { timeout: 15_000 }).toEqual(['big:0', 'big:1', 'big:2']);
    await expect
      .poll(
        async () => (await call(c.url, `/api/messages/${encodeURIComponent(bigIds[0] ?? '')}`)).json.state,
        { timeout: 15_000 },
      )
      .toBe('unknown');

    // Purge by reason, then everything.
    expect(
      (await call(c.url, '/api/dlq/purge', { body: { reason: 'handler refused' }, token: TOKEN })).json,
    ).toEqual({ purged: 2, missing: [] });
    expect((await call(c.url, '/api/dlq/purge', { body: purgeAll, token: TOKEN })).json).toEqual({
      purged: 1,
      missing: [],
    });
    expect(await fx.admin.zcard(keys.dlq)).toBe(0);

    // Undeliverable replies, newest first, with the reason filter.
    const deadReply = (at: number, reason: string, messageId: string) =>
      Buffer.concat([
        Buffer.from(`${at}:${Buffer.byteLength(reason)}:${reason}`),
        encodeOutboundEntry(
          { messageId, replyTo: 'ws:r1:s1', payload: Buffer.from(`reply to ${messageId}`), text: false },
          at - 5,
        ),
      ]);
    await fx.admin.lpush(
      keys.outboundDead,
      deadReply(1_000, 'expired', 'm1'),
      deadReply(2_000, 'unknown_session', 'm2'),
    );
    const outbound = (await call(c.url, '/api/outbound-dlq')).json as { total: number; entries: Json[] };
    expect(outbound.total).toBe(2);
    expect(outbound.entries[0]).toEqual({
      messageId: 'm2',
      reason: 'unknown_session',
      deadAt: 2_000,
      replyTo: 'ws:r1:s1',
      enqueuedAt: 1_995,
      payload: b64('reply to m2'),
    });
    expect(
      ((await call(c.url, '/api/outbound-dlq?reason=expired')).json.entries as Json[]).map(
        (e) => e.messageId,
      ),
    ).toEqual(['m1']);
    expect((await call(c.url, '/api/outbound-dlq?limit=0')).status).toBe(400);

    // Purging undeliverable replies: the token, then by message id, by reason, all.
    await fx.admin.lpush(
      keys.outboundDead,
      deadReply(3_000, 'expired', 'm3'),
      deadReply(4_000, 'gone', 'm4'),
    );
    const outPurge = '/api/outbound-dlq/purge';
    expect((await call(c.url, outPurge, { body: { all: true } })).status).toBe(401);
    expect((await call(c.url, outPurge, { body: { ids: [] }, token: TOKEN })).status).toBe(400);
    expect(await fx.admin.llen(keys.outboundDead)).toBe(4);
    expect((await call(c.url, outPurge, { body: { ids: ['m2', 'nope'] }, token: TOKEN })).json).toEqual({
      purged: 1,
      missing: ['nope'],
    });
    expect((await call(c.url, outPurge, { body: { reason: 'expired' }, token: TOKEN })).json).toEqual({
      purged: 2,
      missing: [],
    });
    expect(((await call(c.url, '/api/outbound-dlq')).json.entries as Json[]).map((e) => e.messageId)).toEqual(
      ['m4'],
    );
    expect((await call(c.url, outPurge, { body: { all: true }, token: TOKEN })).json).toEqual({
      purged: 1,
      missing: [],
    });
    expect(await fx.admin.llen(keys.outboundDead)).toBe(0);

    // Routes and methods.
    expect(await call(c.url, '/api/nothing')).toMatchObject({
      status: 404,
      json: { error: 'no such page or API route: /api/nothing' },
    });
    const wrongMethod = await call(c.url, '/api/stats', { body: {} });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    const getAction = await call(c.url, '/api/dlq/replay');
    expect(getAction.status).toBe(405);
    expect(getAction.headers.get('allow')).toBe('POST');
    expect((await call(c.url, `/api/messages/${'m'.repeat(513)}`)).status).toBe(400);
    expect((await call(c.url, '/api/messages/%E0%A4%A')).json.error).toBe(
      'the id is not valid percent-encoding',
    );

    // The page itself, with its content security policy; the libraries it loads.
    const page = await fetch(`${c.url}/`);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    for (const path of [
      '/app.js',
      '/vendor/preact.mjs',
      '/vendor/hooks.mjs',
      '/vendor/htm.mjs',
      '/vendor/uPlot.esm.js',
    ])
      expect((await fetch(`${c.url}${path}`)).headers.get('content-type'), path).toContain('text/javascript');

    // GET /api/events: a snapshot a second, with the lease left and, from the second on, rates.
    const [first, next] = await snapshots(c.url, 2);
    if (!first || !next) throw new Error('the event stream ended before two snapshots');
    const firstStats = first.stats as Json;
    expect((firstStats.leader as Json).id).toBe((stats.leader as Json).id);
    expect(first.leaseLeftMs).toBeGreaterThan(0);
    expect(firstStats.rates).toBeNull();
    expect((next.stats as Json).rates).toMatchObject({ acceptedPerSec: expect.any(Number) });
  });

  it('without a token the console is read-only: it says so and refuses every action with 403', async () => {
    const prefix = uniquePrefix('cro');
    const env = testEnv(fx.redis.url, prefix);
    const c = await startConsole(fx, env);
    expect((await call(c.url, '/api/console')).json).toEqual({ mode: 'lists', prefix, readOnly: true });
    for (const path of ['/api/dlq/replay', '/api/dlq/purge', '/api/outbound-dlq/purge']) {
      const answer = await call(c.url, path, { body: { all: true }, token: 'any-token-at-all-0123' });
      expect(answer).toMatchObject({
        status: 403,
        json: { error: 'the console is read-only: REDISPATCH_CONSOLE_TOKEN is not set' },
      });
    }
  });

  it('refuses a short console token and a taken port with one line naming the setting', async () => {
    const env = testEnv(fx.redis.url, uniquePrefix('cbad'));
    const short = await runCli(['console', '--console-port', '0'], {
      ...env,
      REDISPATCH_CONSOLE_TOKEN: 'short',
    });
    expect(short.code).toBe(2);
    expect(short.output).toMatch(/REDISPATCH_CONSOLE_TOKEN.*at least 16 characters/);
    const c = await startConsole(fx, env);
    const port = new URL(c.url).port;
    const taken = await runCli(['console', '--console-port', port], env);
    expect(taken.code).not.toBe(0);
    expect(taken.output).toMatch(/REDISPATCH_CONSOLE_PORT \(--console-port\) \d+ on 127\.0\.0\.1 is taken/);
  });
});
