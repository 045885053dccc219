/**
 * Tracing across a failover, with real processes: two CLI dispatchers with the OpenTelemetry SDK
 * preloaded (fixtures/trace-preload.mjs writes their spans to one file). The leader is frozen
 * (SIGSTOP) so it never writes a traced message both heard, then SIGKILLed; the standby takes over and
 * replays the message from its buffer, and its dispatch span (with the new epoch) links the message's
 * context.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeys, framePayload, readStats } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { testEnv, uniquePrefix } from './helpers/in-process.js';
import { useProcessFixture } from './helpers/process-fixture.js';

const fx = useProcessFixture();
const PRELOAD = fileURLToPath(new URL('./fixtures/trace-preload.mjs', import.meta.url));

interface SpanLine {
  role: string;
  name: string;
  links: { context: { traceId: string; spanId: string }; attributes: Record<string, unknown> }[];
  attributes: Record<string, unknown>;
}

function readSpans(file: string): SpanLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SpanLine);
}

describe('tracing across a failover', () => {
  it('a message replayed by the new leader after the old one was SIGKILLed: its dispatch span links the message', async () => {
    const prefix = uniquePrefix('failtrace');
    const keys = createKeys(prefix);
    const file = join(fx.tempDir('trace'), 'spans.jsonl');
    const env = { ...testEnv(fx.redis.url, prefix), NODE_OPTIONS: `--import ${PRELOAD}`, TRACE_FILE: file };
    const old = fx.spawn(['dispatcher'], env);
    await old.waitForLog(/"msg":"standby"/);
    await expect
      .poll(async () => (await readStats(fx.admin, keys, prefix)).leader?.pid, { timeout: 10_000 })
      .toBe(old.pid);
    const standby = fx.spawn(['dispatcher'], env);
    await standby.waitForLog(/"msg":"standby"/);
    const firstEpoch = (await readStats(fx.admin, keys, prefix)).leader?.epoch ?? 0;
    // A first batch written by the old leader, with its replay marker.
    await fx.admin.publish(env.REDISPATCH_CHANNEL, 'written');
    await expect
      .poll(async () => (await readStats(fx.admin, keys, prefix)).totals.accepted, { timeout: 10_000 })
      .toBe(1);

    old.kill('SIGSTOP');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const spanId = '00f067aa0ba902b7';
    await fx.admin.publish(
      env.REDISPATCH_CHANNEL,
      framePayload('heard by both, written by neither', { traceparent: `00-${traceId}-${spanId}-01` }),
    );
    // Let the standby's subscription receive it before the leader dies.
    await new Promise((resolve) => setTimeout(resolve, 200));
    old.kill('SIGKILL');
    await old.exited();

    await expect
      .poll(async () => (await readStats(fx.admin, keys, prefix)).totals.failoverReplayed, {
        timeout: 15_000,
      })
      .toBe(1);
    const linking = () =>
      readSpans(file).filter(
        (s) =>
          s.name === `dispatch ${prefix}` &&
          s.links.some((l) => l.context.traceId === traceId && l.context.spanId === spanId),
      );
    await expect.poll(() => linking().length, { timeout: 10_000 }).toBe(1);
    const [replayed] = linking();
    expect(Number(replayed?.attributes['messaging.redispatch.epoch'])).toBeGreaterThan(firstEpoch);
    expect(replayed?.links.find((l) => l.context.spanId === spanId)?.attributes).toEqual({
      'messaging.redispatch.link': 'message',
    });
    expect((await readStats(fx.admin, keys, prefix)).leader?.pid).toBe(standby.pid);
  });
});
