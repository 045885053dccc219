import { fileURLToPath } from 'node:url';
import { createKeys, encodeOutboundEntry, type Stats } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { checkRun } from '../helpers/checker.js';
import { runCli } from '../helpers/cli-process.js';
import { testEnv, uniquePrefix } from '../helpers/in-process.js';
import { useProcessFixture } from '../helpers/process-fixture.js';

// Dead letters and stats as an operator meets them: real dispatcher and worker processes, the CLI
// run as a process (stdin is not a terminal), one real redis-server. Streams mode: streams-cli.test.ts.
const fx = useProcessFixture();
const REFUSING_HANDLER = fileURLToPath(new URL('../fixtures/refusing-handler.mjs', import.meta.url));

async function serverMs(): Promise<number> {
  const [seconds, micros] = await fx.admin.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** The ids of a `dlq list` text output, in order. */
const idsOf = (lines: string[]) =>
  lines.filter((l) => l.includes('  attempts=')).map((l) => l.split(' ')[0] ?? '');

/**
 * A dispatcher and a worker (max attempts 1, payload limit 64) and 22 dead letters: 20 oversize text
 * bodies, then, strictly later on the server clock (`since`), a binary oversize body and a body the
 * handler refused with a TypeError.
 */
async function deadLetters(name: string) {
  const prefix = uniquePrefix(name);
  const keys = createKeys(prefix);
  const dir = fx.tempDir(name);
  const env = {
    ...testEnv(fx.redis.url, prefix, { REDISPATCH_MAX_ATTEMPTS: '1', REDISPATCH_MAX_PAYLOAD_BYTES: '64' }),
    CHECK_DIR: dir,
  };
  const roomy = { ...env, REDISPATCH_MAX_PAYLOAD_BYTES: '1000' };
  fx.spawn(['dispatcher'], env);
  const worker = fx.spawn(['worker', '--handler', REFUSING_HANDLER], env);
  await worker.waitForLog(/worker registered/);
  await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 }).toBe(1);

  // 20 oversize text bodies, then (strictly later on the server clock) a binary one and a refused one.
  for (let i = 0; i < 20; i++) await fx.admin.publish(env.REDISPATCH_CHANNEL, `big:${i}:${'x'.repeat(90)}`);
  await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 10_000 }).toBe(20);
  const cut = await serverMs();
  await expect.poll(serverMs).toBeGreaterThan(cut + 1);
  const binary = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
  await fx.admin.publish(env.REDISPATCH_CHANNEL, binary);
  await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 10_000 }).toBe(21);
  await fx.admin.publish(env.REDISPATCH_CHANNEL, 'fail-text');
  await expect.poll(() => fx.admin.zcard(keys.dlq), { timeout: 10_000 }).toBe(22);
  const since = new Date(cut + 1).toISOString();

  return { env, roomy, keys, dir, since };
}

describe('dlq: list, show, replay, purge', () => {
  it('lists newest first with the total, pages, filters, and shows one in full (text with stack, binary as hex)', async () => {
    const { env, since } = await deadLetters('dlql');
    const first = await runCli(['dlq', 'list'], env);
    expect(first.code).toBe(0);
    const ids = idsOf(first.lines);
    expect(ids).toHaveLength(20);
    expect(first.lines[0]).toMatch(/reason="TypeError: handler refused fail-text \(attempt 1 of 1\)"/);
    expect(first.lines[1]).toMatch(
      /reason="oversize.*body=<binary 100 bytes: 000102030405060708090a0b0c0d0e0f…>$/,
    );
    expect(first.lines[2]).toContain('body="big:19:');
    expect(first.lines.at(-1)).toBe(
      '20 dead letter(s) shown, 22 in total (newest first, offset 0; next: --offset 20)',
    );
    const [failId = '', binaryId = ''] = ids;

    const rest = await runCli(['dlq', 'list', '--offset', '20'], env);
    expect(rest.lines.map((l) => /body="(big:\d+):/.exec(l)?.[1])).toEqual(['big:1', 'big:0', undefined]);
    expect(rest.lines.at(-1)).toBe('2 dead letter(s) shown, 22 in total (newest first, offset 20)');

    const summary = async (args: string[]) => (await runCli(['dlq', 'list', ...args], env)).lines.at(-1);
    expect(await summary(['--reason', 'typeerror'])).toBe(
      '1 dead letter(s) shown, 1 matching (newest first, offset 0)',
    );
    expect(await summary(['--reason', 'oversize', '--newer-than', since])).toMatch(
      /^1 dead letter\(s\) shown, 1 matching/,
    );
    expect(await summary(['--older-than', since, '--limit', '5'])).toMatch(
      /^5 dead letter\(s\) shown, 20 matching .*--offset 5\)$/,
    );
    expect(await summary(['--newer-than', '1h'])).toMatch(/, 22 matching/);
    expect(await summary(['--older-than', '1d'])).toMatch(/^0 dead letter\(s\) shown, 0 matching/);
    const badAge = await runCli(['dlq', 'list', '--older-than', 'soon'], env);
    expect(badAge.code).toBe(1);
    expect(badAge.lines).toEqual([
      'redispatch: --older-than expects a duration like 10m, 2h, 1d or an ISO timestamp (got "soon")',
    ]);
    const json = await runCli(['dlq', 'list', '--json', '--limit', '1'], env);
    const row = JSON.parse(json.lines[0] ?? '{}');
    expect(row).toMatchObject({ id: failId, attempts: 1, deadLetteredAt: expect.any(Number) });
    expect(Buffer.from(row.body, 'base64').toString()).toBe('fail-text');
    expect(row.stack).toMatch(/^TypeError: handler refused fail-text\n\s+at /);

    const shownBinary = await runCli(['dlq', 'show', binaryId], env);
    expect(shownBinary.code).toBe(0);
    expect(shownBinary.lines).toContain('body:       100 bytes, binary (hex dump below)');
    expect(shownBinary.lines).toContain(
      '00000000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................',
    );
    expect(shownBinary.lines).toContain('00000060: 6061 6263                                `abc');
    const shownText = await runCli(['dlq', 'show', failId], env);
    expect(shownText.lines).toContain('reason:     TypeError: handler refused fail-text (attempt 1 of 1)');
    expect(shownText.lines).toContain('last error stack:');
    expect(shownText.output).toMatch(/ {2}TypeError: handler refused fail-text\n {6}at /);
    expect(shownText.lines.at(-1)).toBe('fail-text');
    const unknown = await runCli(['dlq', 'show', 'no-such-id'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.lines).toEqual(['redispatch: no dead letter with id no-such-id']);
  });

  it('replay and purge: unknown ids named (exit 1), dry runs change nothing, purge needs --yes, oversize not replayed', async () => {
    const { env, roomy, keys, dir, since } = await deadLetters('dlqr');
    const [failId = '', binaryId = '', newestBig = ''] = idsOf((await runCli(['dlq', 'list'], env)).lines);
    // Dry runs change nothing.
    const dryReplay = await runCli(['dlq', 'replay', '--reason', 'oversize', '--dry-run'], roomy);
    expect(dryReplay.lines.at(-1)).toBe('would replay 21 dead letter(s)');
    const dryPurge = await runCli(['dlq', 'purge', '--all', '--dry-run'], env);
    expect(dryPurge.lines.at(-1)).toBe('would purge 22 dead letter(s)');
    expect(await fx.admin.zcard(keys.dlq)).toBe(22);

    // Oversize for the current limit: reported, not replayed, still a dead letter.
    const oversize = await runCli(['dlq', 'replay', binaryId], env);
    expect(oversize.code).toBe(1);
    expect(oversize.lines).toEqual([
      'replayed 0 dead letter(s)',
      `redispatch: not replayed ${binaryId}: 100 bytes exceeds REDISPATCH_MAX_PAYLOAD_BYTES=64`,
    ]);
    expect(await fx.admin.zscore(keys.dlq, binaryId)).not.toBeNull();

    // Unknown ids are named (exit 1); the known one is replayed all the same.
    const replay = await runCli(['dlq', 'replay', 'nope-1', newestBig, 'nope-2'], roomy);
    expect(replay.code).toBe(1);
    expect(replay.lines).toEqual([
      'replayed 1 dead letter(s)',
      'redispatch: no dead letter with id(s): nope-1, nope-2',
    ]);
    await expect.poll(() => checkRun(dir, 'big', 20).handled, { timeout: 10_000 }).toBe(1);

    // Purge: refused without --yes off a terminal; unknown ids named; filters select.
    const refused = await runCli(['dlq', 'purge'], env);
    expect(refused.code).toBe(1);
    expect(refused.lines).toEqual([
      'redispatch: dlq purge would delete 21 dead letter(s): pass --yes to confirm (stdin is not a terminal)',
    ]);
    expect(await fx.admin.zcard(keys.dlq)).toBe(21);
    const byId = await runCli(['dlq', 'purge', failId, 'nope-3', '--yes'], env);
    expect(byId.code).toBe(1);
    expect(byId.lines).toEqual(['purged 1 dead letter(s)', 'redispatch: no dead letter with id(s): nope-3']);
    expect(await fx.admin.hget(keys.errors, `stack:${failId}`)).toBeNull();
    const byAge = await runCli(['dlq', 'purge', '--newer-than', since, '--yes'], env);
    expect(byAge.lines).toEqual(['purged 1 dead letter(s)']);
    const all = await runCli(['dlq', 'purge', '--yes'], env);
    expect(all.lines).toEqual(['purged 19 dead letter(s)']);
    expect(await fx.admin.zcard(keys.dlq)).toBe(0);
    expect(await fx.admin.hlen(keys.body)).toBe(0);
    expect(await fx.admin.hlen(keys.errors)).toBe(0);
  });

  it('outbound-dlq: newest first with the total, offset, filters, show, and the same purge guards', async () => {
    const prefix = uniquePrefix('odlq');
    const keys = createKeys(prefix);
    const env = testEnv(fx.redis.url, prefix);
    const now = await serverMs();
    // Entries as the relay writes them: "<deadAtMs>:<reasonLength>:<reason><entry>", newest at the head.
    const dead = (at: number, reason: string, messageId: string, payload: Buffer) =>
      Buffer.concat([
        Buffer.from(`${at}:${Buffer.byteLength(reason)}:${reason}`),
        encodeOutboundEntry({ messageId, replyTo: 'ws:r1:s1', payload, text: false }, at - 5),
      ]);
    for (let i = 0; i < 24; i++)
      await fx.admin.lpush(
        keys.outboundDead,
        dead(now - 3_600_000 + i, 'expired', `m${i}`, Buffer.from(`reply ${i}`)),
      );
    await fx.admin.lpush(
      keys.outboundDead,
      dead(now, 'unknown_session', 'mbin', Buffer.from([0, 1, 2, 255])),
    );

    const list = await runCli(['outbound-dlq', 'list'], env);
    expect(list.lines[0]).toMatch(
      /reason="unknown_session" {2}id=mbin .*payload=<binary 4 bytes: 000102ff>$/,
    );
    expect(list.lines[1]).toContain('id=m23');
    expect(list.lines.at(-1)).toBe(
      '20 undeliverable reply(ies) shown, 25 in total (newest first, offset 0; next: --offset 20)',
    );
    const page = await runCli(['outbound-dlq', 'list', '--offset', '23'], env);
    expect(page.lines.map((l) => /id=(\S+)/.exec(l)?.[1])).toEqual(['m1', 'm0', undefined]);
    const filtered = await runCli(
      ['outbound-dlq', 'list', '--reason', 'expired', '--newer-than', '10m'],
      env,
    );
    expect(filtered.lines).toEqual(['0 undeliverable reply(ies) shown, 0 matching (newest first, offset 0)']);
    const old = await runCli(['outbound-dlq', 'list', '--older-than', '30m', '--limit', '1'], env);
    expect(old.lines.at(-1)).toMatch(/^1 undeliverable reply\(ies\) shown, 24 matching/);

    const show = await runCli(['outbound-dlq', 'show', 'mbin'], env);
    expect(show.lines).toContain('payload:    4 bytes, binary (hex dump below)');
    expect(show.lines).toContain('00000000: 0001 02ff                                ....');

    const refused = await runCli(['outbound-dlq', 'purge', '--reason', 'expired'], env);
    expect(refused.code).toBe(1);
    expect(refused.lines).toEqual([
      'redispatch: outbound-dlq purge would delete 24 undeliverable reply(ies): pass --yes to confirm (stdin is not a terminal)',
    ]);
    const dry = await runCli(['outbound-dlq', 'purge', '--all', '--dry-run'], env);
    expect(dry.lines).toEqual(['would purge 25 undeliverable reply(ies)']);
    const byId = await runCli(['outbound-dlq', 'purge', 'mbin', 'nope', '--yes'], env);
    expect(byId.code).toBe(1);
    expect(byId.lines).toEqual([
      'purged 1 undeliverable reply(ies)',
      'redispatch: no undeliverable reply for message id(s): nope',
    ]);
    const byReason = await runCli(
      ['outbound-dlq', 'purge', '--reason', 'expired', '--older-than', '30m', '--yes'],
      env,
    );
    expect(byReason.lines).toEqual(['purged 24 undeliverable reply(ies)']);
    expect(await fx.admin.llen(keys.outboundDead)).toBe(0);
  });
});

describe('stats: the whole cluster', () => {
  it('shows every dispatcher (caught up, buffered), rates and timestamps under --watch, and keeps the old fields', async () => {
    const prefix = uniquePrefix('wstats');
    const env = { ...testEnv(fx.redis.url, prefix), CHECK_DIR: fx.tempDir('wstats') };
    const dispatchers = [0, 1, 2].map(() => fx.spawn(['dispatcher'], env));
    const worker = fx.spawn(['worker', '--handler', REFUSING_HANDLER], env);
    await worker.waitForLog(/worker registered/);
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 }).toBe(3);
    const statsJson = async () => JSON.parse((await runCli(['stats', '--json'], env)).output) as Stats;
    await expect
      .poll(async () => (await statsJson()).dispatchers?.map((d) => `${d.role} ${d.caughtUp}`), {
        timeout: 10_000,
      })
      .toEqual(['leader true', 'standby true', 'standby true']);
    const stats = await statsJson();
    for (const field of [
      'mode',
      'prefix',
      'leader',
      'epoch',
      'workers',
      'inflight',
      'delayed',
      'backlog',
      'deadLetters',
      'totals',
    ])
      expect(stats).toHaveProperty(field);
    expect(stats.dispatchers?.[0]).toMatchObject({
      id: stats.leader?.id,
      pid: stats.leader?.pid,
      buffered: 0,
    });
    for (const d of stats.dispatchers ?? []) expect(d.buffered).toEqual(expect.any(Number));
    const text = await runCli(['stats'], env);
    // One process table: the dispatchers' rows carry their state, caught up and buffered.
    expect(text.output).toMatch(/^process +role +state +caught up +buffered +host +pid +metrics$/m);
    expect(text.output).not.toMatch(/^dispatcher +role +caught up/m);
    expect(text.output).toMatch(
      new RegExp(`^${stats.dispatchers?.[0]?.id} +dispatcher +leader +yes +0 `, 'm'),
    );
    expect(text.output).toMatch(
      new RegExp(`^${stats.dispatchers?.[1]?.id} +dispatcher +standby +yes +\\d+ `, 'm'),
    );

    // Rates over each --watch interval, every refresh timestamped.
    const watch = fx.spawn(['stats', '--watch', '0.3', '--json'], env);
    const textWatch = fx.spawn(['stats', '--watch', '0.3'], env);
    const publish = runCli(['publish', '--count', '600', '--rate', '300', '--run-id', 'rate'], env);
    await watch.waitForLog(/"rates":\{"acceptedPerSec":[1-9]/, 20_000);
    await textWatch.waitForLog(/^rates: accepted [1-9][\d.]*\/s {2}acked [\d.]+\/s/m, 20_000);
    expect((await publish).code).toBe(0);
    const frames = watch
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Stats);
    expect(frames[0]?.rates).toBeNull();
    for (const frame of frames) expect(Date.parse(frame.sampledAt ?? '')).toBeGreaterThan(0);
    await expect.poll(() => checkRun(env.CHECK_DIR, 'rate', 600).lost, { timeout: 15_000 }).toBe(0);
    expect(textWatch.output()).toMatch(/^at \d{4}-\d\d-\d\dT[\d:.]+Z\nmode lists /m);
    watch.kill('SIGINT');
    textWatch.kill('SIGINT');

    // A standby that stops cleanly leaves the list at once.
    const standby = dispatchers.find((d) => d.pid === stats.dispatchers?.[2]?.pid);
    standby?.kill('SIGTERM');
    expect((await standby?.exited())?.code).toBe(0);
    expect((await statsJson()).dispatchers?.map((d) => d.role)).toEqual(['leader', 'standby']);

    // One that dies leaves its entry behind, but stats stops showing it once it has missed
    // ENDPOINT_STALE_REFRESHES of its refreshes.
    const last = dispatchers.find(
      (d) =>
        d.pid === (stats.dispatchers ?? []).find((s) => s.role === 'standby' && s.pid !== standby?.pid)?.pid,
    );
    last?.kill('SIGKILL');
    await last?.exited();
    expect(
      await fx.admin.hexists(
        createKeys(prefix).endpoints,
        stats.dispatchers?.find((d) => d.pid === last?.pid)?.id ?? '',
      ),
    ).toBe(1);
    await expect
      .poll(async () => (await statsJson()).dispatchers?.map((d) => d.role), { timeout: 15_000 })
      .toEqual(['leader']);
    // The dispatchers are recorded there only: no presence keys of their own.
    expect(await fx.admin.keys(`${createKeys(prefix).tag}:dispatcher*`)).toEqual([]);
  });
});
