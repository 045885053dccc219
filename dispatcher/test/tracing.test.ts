/**
 * OpenTelemetry spans through a real Redis, a real leader and a real worker in this process, with the
 * SDK's in-memory exporter: publish → dispatch (one span per batch, linked to each message) →
 * process (child of the message's context), links across a redelivery, and `publish --traceparent`.
 */
import { context, type SpanContext, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createConnection, createKeys, Publisher, readStats, tracingEnabled } from '@redispatch/shared';
import { type RedisHandle, startRedis } from '@redispatch/testing';
import type { Message } from '@redispatch/worker';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli-process.js';
import { type Fleet, fleet, testConfig, testEnv, uniquePrefix } from './helpers/in-process.js';

let server: RedisHandle;
let admin: Redis;
const fleets: Fleet[] = [];

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
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()));
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

/** A leader and one worker running `handler`, ready to route. */
async function startFleet(name: string, handler: (msg: Message) => unknown) {
  const prefix = uniquePrefix(name);
  const config = testConfig(server.url, prefix);
  const f = fleet(config);
  fleets.push(f);
  await f.startDispatcher();
  await f.startWorker(handler);
  await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
  await expect
    .poll(async () => Number(((await admin.pubsub('NUMSUB', config.channel)) as [string, number])[1]), {
      timeout: 10_000,
    })
    .toBeGreaterThan(0);
  await expect
    .poll(async () => (await readStats(admin, createKeys(prefix), prefix)).workers.length, { timeout: 5_000 })
    .toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 250)); // one reap: the leader sees the worker
  return { prefix, config, publisher: new Publisher({ redis: admin, channel: config.channel }) };
}

const traceparentOf = (c: SpanContext) => `00-${c.traceId}-${c.spanId}-0${c.traceFlags}`;
const sameSpan = (a: SpanContext | undefined, b: SpanContext) =>
  a?.traceId === b.traceId && a.spanId === b.spanId;

describe('tracing without an SDK', () => {
  it('builds nothing: the Publisher adds no trace context and the handler sees none', async () => {
    expect(tracingEnabled()).toBe(false);
    const headers: (string | undefined)[] = [];
    const { publisher } = await startFleet('notrace', (msg) => {
      headers.push(msg.header === undefined ? 'plain' : msg.header.traceparent);
    });
    await publisher.publish('plain body');
    await publisher.publish('with id', { id: 'm1' });
    await expect.poll(() => headers.length, { timeout: 10_000 }).toBe(2);
    expect(headers.sort()).toEqual(['plain', undefined].sort());
  });
});

describe('tracing with the OpenTelemetry SDK (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  const contextManager = new AsyncLocalStorageContextManager();
  const spans = () => exporter.getFinishedSpans();
  const named = (prefix: string) => spans().filter((s) => s.name.startsWith(prefix));

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
  });
  afterEach(() => exporter.reset());
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('process spans are children of the publish spans; one dispatch span per batch links each traced message', async () => {
    expect(tracingEnabled()).toBe(true);
    const tracer = trace.getTracer('test');
    const seen = new Map<string, string | undefined>();
    const { prefix, config, publisher } = await startFleet('trace', (msg) => {
      const body = msg.body.toString();
      seen.set(body, msg.header?.traceparent);
      // The handler's own span: a child of the active process span.
      tracer.startActiveSpan(`handle ${body}`, (span) => span.end());
    });
    const app = tracer.startSpan('app');
    await context.with(trace.setSpan(context.active(), app), () =>
      publisher.publishBatch([
        { body: 'a', options: { id: 'pub-a' } },
        { body: 'b' },
        { body: 'c', options: { affinityKey: 'k' } },
      ]),
    );
    app.end();
    // A message published without trace context (not through the Publisher).
    await admin.publish(config.channel, 'raw');
    await expect.poll(() => seen.size, { timeout: 10_000 }).toBe(4);
    await expect.poll(() => named('process ').length, { timeout: 5_000 }).toBe(4);

    const publishes = named('publish ');
    expect(publishes).toHaveLength(3);
    for (const span of publishes) {
      expect(span.kind).toBe(SpanKind.PRODUCER);
      expect(span.name).toBe(`publish ${config.channel}`);
      expect(span.attributes).toMatchObject({
        'messaging.system': 'redispatch',
        'messaging.operation.type': 'publish',
        'messaging.destination.name': config.channel,
      });
      // Children of the application's active span.
      expect(sameSpan(span.parentSpanContext, app.spanContext())).toBe(true);
    }
    expect(publishes.map((s) => s.attributes['messaging.message.id'])).toContain('pub-a');

    const processes = named('process ');
    const byMessage = new Map(processes.map((s) => [String(s.attributes['messaging.message.id']), s]));
    expect(byMessage.size).toBe(4);
    for (const span of processes) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.name).toBe(`process ${prefix}`);
      expect(span.attributes).toMatchObject({
        'messaging.system': 'redispatch',
        'messaging.operation.type': 'process',
        'messaging.destination.name': prefix,
        'messaging.redispatch.attempt': 1,
      });
    }
    const publishContexts = publishes.map((s) => s.spanContext());
    for (const body of ['a', 'b', 'c']) {
      const traceparent = seen.get(body);
      // The handler saw the publish span's context in msg.header.traceparent ...
      const publish = publishContexts.find((c) => traceparentOf(c) === traceparent);
      expect(publish, `message ${body}`).toBeDefined();
      // ... and its process span is that publish span's child; the handler's span the process span's.
      const handlerSpan = named(`handle ${body}`)[0];
      expect(handlerSpan).toBeDefined();
      const process = processes.find((p) => sameSpan(handlerSpan?.parentSpanContext, p.spanContext()));
      expect(process).toBeDefined();
      expect(sameSpan(process?.parentSpanContext, publish!)).toBe(true);
      expect(process?.spanContext().traceId).toBe(publish?.traceId);
    }
    // The raw message: a process span of its own trace, no parent from any envelope.
    expect(seen.get('raw')).toBeUndefined();
    const rawProcess = processes.filter(
      (s) => !publishContexts.some((c) => sameSpan(s.parentSpanContext, c)),
    );
    expect(rawProcess).toHaveLength(1);
    expect(rawProcess[0]?.parentSpanContext).toBeUndefined();
    expect(publishContexts.map((c) => c.traceId)).not.toContain(rawProcess[0]?.spanContext().traceId);

    // Dispatch: one span per batch write; together they carry 4 messages and link exactly the 3 traced.
    const dispatches = named('dispatch ');
    expect(dispatches.length).toBeGreaterThanOrEqual(1);
    let carried = 0;
    const linked: SpanContext[] = [];
    for (const span of dispatches) {
      expect(span.name).toBe(`dispatch ${prefix}`);
      expect(span.kind).toBe(SpanKind.PRODUCER);
      expect(span.attributes).toMatchObject({
        'messaging.system': 'redispatch',
        'messaging.operation.type': 'send',
        'messaging.destination.name': prefix,
      });
      expect(span.parentSpanContext).toBeUndefined();
      carried += Number(span.attributes['messaging.batch.message_count']);
      for (const link of span.links) {
        expect(link.attributes).toEqual({ 'messaging.redispatch.link': 'message' });
        linked.push(link.context);
      }
    }
    expect(carried).toBe(4);
    expect(linked.map(traceparentOf).sort()).toEqual(publishContexts.map(traceparentOf).sort());
  });

  it('a redelivered message: the failed attempt records the error, the next links it; both are children of the publish', async () => {
    const attempts: number[] = [];
    const { publisher } = await startFleet('retrace', (msg) => {
      attempts.push(msg.attempt);
      if (msg.attempt === 1) throw new Error('first attempt fails');
    });
    await publisher.publish('retry me');
    await expect.poll(() => attempts, { timeout: 10_000 }).toEqual([1, 2]);
    await expect.poll(() => named('process ').length, { timeout: 5_000 }).toBe(2);
    const [publish] = named('publish ');
    const processes = named('process ').sort(
      (a, b) =>
        Number(a.attributes['messaging.redispatch.attempt']) -
        Number(b.attributes['messaging.redispatch.attempt']),
    );
    const [first, second] = processes as [ReadableSpan, ReadableSpan];
    expect(first.attributes['messaging.redispatch.attempt']).toBe(1);
    expect(second.attributes['messaging.redispatch.attempt']).toBe(2);
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(first.status.message).toBe('first attempt fails');
    expect(first.events.map((e) => e.name)).toContain('exception');
    expect(second.status.code).not.toBe(SpanStatusCode.ERROR);
    for (const span of processes) expect(sameSpan(span.parentSpanContext, publish!.spanContext())).toBe(true);
    expect(first.links).toEqual([]);
    expect(second.links).toHaveLength(1);
    expect(sameSpan(second.links[0]?.context, first.spanContext())).toBe(true);
    expect(second.links[0]?.attributes).toEqual({ 'messaging.redispatch.link': 'previous_attempt' });
  });

  it.each([
    ['lists', {}],
    ['streams', { REDISPATCH_MODE: 'streams', REDISPATCH_PARTITIONS: '1' }],
  ] as const)(
    '%s mode: nacked on worker A, redelivered on worker B: B links A’s failed attempt (carried in Redis)',
    async (_mode, extra) => {
      const seen: string[] = [];
      const prefix = uniquePrefix('crosstrace');
      const config = testConfig(server.url, prefix, extra);
      const f = fleet(config);
      fleets.push(f);
      await f.startDispatcher();
      const a = await f.startWorker((msg) => {
        seen.push(`A ${msg.attempt}`);
        // Retried after 2 s: by then A has left, so the next attempt can only go to B.
        throw Object.assign(new Error('A fails'), { retryAfterMs: 2_000 });
      });
      await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
      await expect
        .poll(async () => Number(((await admin.pubsub('NUMSUB', config.channel)) as [string, number])[1]), {
          timeout: 10_000,
        })
        .toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 250)); // one reap: the leader sees the worker
      await new Publisher({ redis: admin, channel: config.channel }).publish('crosses workers');
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual(['A 1']);
      await a.close();
      await f.startWorker((msg) => {
        seen.push(`B ${msg.attempt}`);
      });
      await expect.poll(() => seen, { timeout: 15_000 }).toEqual(['A 1', 'B 2']);
      await expect.poll(() => named('process ').length, { timeout: 5_000 }).toBe(2);
      const byAttempt = (n: number) =>
        named('process ').find((s) => s.attributes['messaging.redispatch.attempt'] === n);
      const [first, second] = [byAttempt(1), byAttempt(2)];
      expect(first?.status.code).toBe(SpanStatusCode.ERROR);
      expect(second?.links).toHaveLength(1);
      expect(sameSpan(second?.links[0]?.context, first?.spanContext() as SpanContext)).toBe(true);
      expect(second?.links[0]?.attributes).toEqual({ 'messaging.redispatch.link': 'previous_attempt' });
    },
  );

  it('a handler past its ack timeout: that attempt ends as failed with the timeout, the redelivery links it', async () => {
    const attempts: number[] = [];
    const { publisher } = await startFleet('timeouttrace', async (msg) => {
      attempts.push(msg.attempt);
      // The first attempt outlives the 2 s ack timeout (then honours its aborted signal).
      if (msg.attempt === 1)
        await new Promise((resolve) => msg.signal.addEventListener('abort', resolve, { once: true }));
    });
    await publisher.publish('slow once');
    await expect.poll(() => attempts, { timeout: 15_000 }).toEqual([1, 2]);
    await expect.poll(() => named('process ').length, { timeout: 5_000 }).toBe(2);
    const byAttempt = (n: number) =>
      named('process ').find((s) => s.attributes['messaging.redispatch.attempt'] === n);
    const [first, second] = [byAttempt(1), byAttempt(2)];
    expect(first?.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'handler did not finish within 2000 ms',
    });
    expect(second?.links.map((l) => l.context.spanId)).toEqual([first?.spanContext().spanId]);
  });

  it('streams mode: process spans are children of the publish spans, dispatch links them, a redelivery links the failed attempt', async () => {
    const prefix = uniquePrefix('streamtrace');
    const config = testConfig(server.url, prefix, { REDISPATCH_MODE: 'streams', REDISPATCH_PARTITIONS: '2' });
    const f = fleet(config);
    fleets.push(f);
    const handled: string[] = [];
    await f.startDispatcher();
    await f.startWorker((msg) => {
      handled.push(`${msg.body} ${msg.attempt}`);
      if (msg.body.toString() === 'fails once' && msg.attempt === 1) throw new Error('once');
    });
    await expect.poll(() => f.leader()?.state, { timeout: 10_000 }).toBe('leading');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const publisher = new Publisher({ redis: admin, channel: config.channel });
    await publisher.publish('fine', { affinityKey: 'a' });
    await publisher.publish('fails once', { affinityKey: 'b' });
    await expect
      .poll(() => handled.sort(), { timeout: 15_000 })
      .toEqual(['fails once 1', 'fails once 2', 'fine 1']);
    await expect.poll(() => named('process ').length, { timeout: 5_000 }).toBe(3);
    const publishes = named('publish ');
    expect(publishes).toHaveLength(2);
    const processes = named('process ');
    for (const span of processes) {
      expect(publishes.some((p) => sameSpan(span.parentSpanContext, p.spanContext()))).toBe(true);
    }
    const linked = named('dispatch ').flatMap((s) => s.links.map((l) => traceparentOf(l.context)));
    expect(linked.sort()).toEqual(publishes.map((p) => traceparentOf(p.spanContext())).sort());
    const retried = processes.filter((s) => s.attributes['messaging.redispatch.attempt'] === 2);
    const failed = processes.find((s) => s.status.code === SpanStatusCode.ERROR);
    expect(retried).toHaveLength(1);
    expect(retried[0]?.links.map((l) => l.context.spanId)).toEqual([failed?.spanContext().spanId]);
  });

  it('redispatch publish --traceparent sends it; the process span is its child; a bad one is refused by name', async () => {
    const seen: (string | undefined)[] = [];
    const { prefix } = await startFleet('clitrace', (msg) => {
      seen.push(`${msg.header?.traceparent} ${msg.header?.tracestate}`);
    });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const env = testEnv(server.url, prefix);
    const sent = await runCli(
      ['publish', '--count', '1', '--traceparent', traceparent, '--tracestate', 'congo=t61rcWkgMzE'],
      env,
    );
    expect(sent.code).toBe(0);
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual([`${traceparent} congo=t61rcWkgMzE`]);
    await expect.poll(() => named('process ').length, { timeout: 5_000 }).toBe(1);
    const [process] = named('process ');
    expect(process?.parentSpanContext).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
    });
    expect(process?.parentSpanContext?.traceState?.get('congo')).toBe('t61rcWkgMzE');
    const dispatchLinks = named('dispatch ').flatMap((s) => s.links.map((l) => traceparentOf(l.context)));
    expect(dispatchLinks).toEqual([traceparent]);

    const bad = await runCli(
      ['publish', '--count', '1', '--traceparent', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
      env,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.lines.join('\n')).toMatch(/--traceparent: traceparent trace id is all zeros/);
    const lonely = await runCli(['publish', '--count', '1', '--tracestate', 'a=1'], env);
    expect(lonely.code).not.toBe(0);
    expect(lonely.lines.join('\n')).toMatch(/--tracestate needs --traceparent/);
    expect(seen).toHaveLength(1);
  });
});
