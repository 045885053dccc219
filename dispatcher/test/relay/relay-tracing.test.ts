/**
 * Tracing across real processes: a relay, a dispatcher and a worker started by the CLI, each with the
 * OpenTelemetry SDK preloaded (fixtures/trace-preload.mjs writes their spans to one file). A frame
 * gets a publish span in the relay; the leader's dispatch span links it; the worker's process span is
 * its child and the handler sees the same traceparent.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { useProcessFixture } from '../helpers/process-fixture.js';
import { connect, startStack, stopStacks } from '../helpers/relay-stack.js';

afterEach(stopStacks);
const fx = useProcessFixture();
const PRELOAD = fileURLToPath(new URL('../fixtures/trace-preload.mjs', import.meta.url));

interface SpanContextLine {
  traceId: string;
  spanId: string;
  traceFlags: number;
}
interface SpanLine {
  role: string;
  name: string;
  context: SpanContextLine;
  parent?: SpanContextLine;
  links: { context: SpanContextLine; attributes: Record<string, unknown> }[];
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

describe('tracing across the relay, the dispatcher and the worker processes', () => {
  it('a frame: publish span in the relay → dispatch span links it → process span is its child', async () => {
    const file = join(fx.tempDir('trace'), 'spans.jsonl');
    const stack = await startStack(fx, 'relay-trace', {
      NODE_OPTIONS: `--import ${PRELOAD}`,
      TRACE_FILE: file,
    });
    const client = await connect(stack.relayPort);
    client.ws.send('traceparent');
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(1);
    const reply = client.received[0]?.data.toString() ?? '';
    await expect
      .poll(() => readSpans(file).filter((s) => s.name.startsWith('process ')).length, { timeout: 10_000 })
      .toBe(1);
    const spans = readSpans(file);
    const publishes = spans.filter(
      (s) => s.role === 'relay' && s.name === `publish ${stack.env.REDISPATCH_CHANNEL}`,
    );
    expect(publishes).toHaveLength(1);
    const publish = publishes[0] as SpanLine;
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'redispatch',
      'messaging.operation.type': 'publish',
    });
    const traceparent = `00-${publish.context.traceId}-${publish.context.spanId}-01`;
    // The handler saw the relay's publish span as msg.header.traceparent.
    expect(reply).toBe(`traceparent:${traceparent}`);

    const process = spans.find((s) => s.role === 'worker' && s.name === `process ${stack.prefix}`);
    expect(process?.parent).toMatchObject({
      traceId: publish.context.traceId,
      spanId: publish.context.spanId,
    });
    expect(process?.context.traceId).toBe(publish.context.traceId);

    const dispatchLinks = spans
      .filter((s) => s.role === 'dispatcher' && s.name === `dispatch ${stack.prefix}`)
      .flatMap((s) => s.links);
    expect(dispatchLinks).toHaveLength(1);
    expect(dispatchLinks[0]?.context).toMatchObject({
      traceId: publish.context.traceId,
      spanId: publish.context.spanId,
    });
    await client.close();
  });
});
