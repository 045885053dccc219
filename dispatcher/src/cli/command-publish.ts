import { performance } from 'node:perf_hooks';
import { createKeys, encodeEnvelope, framePayload, publishingNode } from '@redispatch/shared';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { Cluster, Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import { connectNats } from '../ingress/nats-connection.js';
import { withAdminConnection } from './admin-connection.js';
import { configFrom, exitWithError } from './config-flags.js';
import { onParentGone } from './parent-link.js';
import {
  addMessageFlags,
  type MessageFlags,
  needsHeader,
  parseMessageFlags,
  type RawMessageFlags,
} from './publish-message-flags.js';

export interface PublishOptions {
  count: number;
  /** Messages per second; 0 = as fast as Redis takes them. */
  rate: number;
  size: number;
  runId: string;
  /** Envelope delay for every message (parks it in the delayed set). */
  delayMs?: number;
  /** Stamp the publish time in an envelope header (feeds the end-to-end latency histogram). */
  timestamp?: boolean;
  /** A fixed body and per-message options (`--body`, `--attempts`, …). */
  message?: MessageFlags;
  /** W3C trace context carried by every message (envelope records 0x06 / 0x07). */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  onProgress?: (sent: number) => void;
}

/** Pipelined PUBLISH calls per round trip at full speed (bounds memory and keeps Redis responsive). */
const CHUNK = 500;
const TICK_MS = 5;

/**
 * The body of message `seq` in run `runId`: `<runId>:<seq>:` padded with 'x' to `size` bytes.
 * Checkers parse it back to count how often each message was handled.
 */
export function loadPayload(runId: string, seq: number, size: number): Buffer {
  const head = `${runId}:${seq}:`;
  if (head.length >= size) return Buffer.from(head);
  const payload = Buffer.allocUnsafe(size);
  payload.fill(0x78, payload.write(head, 'latin1'));
  return payload;
}

/** Pipelines in flight at once at full speed: hides the round trip without unbounded buffering. */
const MAX_IN_FLIGHT = 4;

/** The body of message `seq`, in an envelope when a delay or a publish timestamp is asked for. */
function framedPayload(options: PublishOptions, seq: number): Buffer {
  const { message } = options;
  const body = message?.body ?? loadPayload(options.runId, seq, options.size);
  const headed = message !== undefined && needsHeader(message);
  const traced = options.traceparent !== undefined;
  if (options.delayMs === undefined && options.timestamp !== true && !headed && !traced) {
    return body.length > 0 && body[0] === 0xfe ? Buffer.from(framePayload(body)) : body;
  }
  const framed = framePayload(body, {
    delayMs: options.delayMs,
    stampTime: options.timestamp === true,
    id: message?.id,
    namespace: message?.namespace,
    attempts: message?.attempts,
    ttlMs: message?.ttlMs,
    timeoutMs: message?.timeoutMs,
    priority: message?.priority,
    traceparent: options.traceparent,
    tracestate: options.tracestate,
  });
  return typeof framed === 'string' ? Buffer.from(framed) : framed;
}

/**
 * Drives any transport at `rate` (0 = full speed): hands out [from, upTo) chunks of sequence numbers
 * on schedule, keeps at most `maxInFlight` sends outstanding, and reports progress as sends complete.
 * Resolves with the seconds it took.
 */
async function pacedLoad(
  options: PublishOptions,
  maxInFlight: number,
  sendChunk: (from: number, upTo: number) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  while (sent < options.count) {
    let target = options.count;
    if (options.rate > 0) {
      const elapsed = (performance.now() - started) / 1000;
      target = Math.min(options.count, Math.floor(elapsed * options.rate) + 1);
      if (target <= sent) {
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
        continue;
      }
    }
    const upTo = Math.min(target, sent + CHUNK);
    const tracked: Promise<void> = sendChunk(sent, upTo)
      .then(() => options.onProgress?.(upTo))
      .finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    sent = upTo;
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return (performance.now() - started) / 1000;
}

/**
 * Publishes `count` numbered messages at `rate` with pipelined PUBLISH; resolves with the seconds it
 * took. With `prefix`, on a cluster each pipeline goes to the node the deployment's dispatchers
 * subscribe on (see `publishingNode`), looked up again per pipeline so it follows a failover.
 */
export function publishLoad(
  redis: Redis | Cluster,
  channel: string,
  options: PublishOptions,
  prefix?: string,
): Promise<number> {
  const pin = prefix === undefined ? undefined : createKeys(prefix).epoch;
  return pacedLoad(options, MAX_IN_FLIGHT, async (from, upTo) => {
    const pipeline = (pin === undefined ? redis : publishingNode(redis, pin)).pipeline();
    for (let seq = from; seq < upTo; seq++) pipeline.publish(channel, framedPayload(options, seq));
    const failed = ((await pipeline.exec()) ?? []).find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  });
}

/** `--traceparent` / `--tracestate` as the envelope will carry them; a one-line error names the flag. */
function traceContextFlags(traceparent: string | undefined, tracestate: string | undefined) {
  if (tracestate !== undefined && traceparent === undefined)
    throw new Error('--tracestate needs --traceparent');
  for (const [flag, header] of [
    ['--traceparent', { traceparent }],
    ['--tracestate', { traceparent, tracestate }],
  ] as const) {
    if (header.traceparent === undefined) continue;
    try {
      encodeEnvelope(header, '');
    } catch (error) {
      throw new Error(`${flag}: ${(error as Error).message.replace(/^envelope /, '')}`);
    }
  }
  return { traceparent, tracestate };
}

function positiveInt(name: string, raw: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} expects a whole number >= ${min} (got "${raw}")`);
  return value;
}

/** Publishes the same load to a NATS subject (core, flushed per chunk) or a JetStream stream (acks awaited). */
export function publishLoadNats(
  connection: NatsConnection,
  subject: string,
  jetstream: boolean,
  options: PublishOptions,
): Promise<number> {
  const js = jetstream ? connection.jetstream() : undefined;
  return pacedLoad(options, 1, async (from, upTo) => {
    const acks: Promise<unknown>[] = [];
    for (let seq = from; seq < upTo; seq++) {
      const data = framedPayload(options, seq);
      if (js) acks.push(js.publish(subject, data));
      else connection.publish(subject, data);
    }
    if (js)
      await Promise.all(acks).catch((error: unknown) => {
        // JetStream answers 503 (no responders) when no stream captures the subject yet.
        if ((error as Error).message === '503')
          throw new Error(
            `REDISPATCH_NATS_STREAM: no JetStream stream captures subject "${subject}" (a dispatcher creates it when it starts)`,
            { cause: error },
          );
        throw error;
      });
    else await connection.flush();
  });
}

export function registerPublishCommand(program: Command): void {
  const publish = program
    .command('publish')
    .description(
      'PUBLISH messages to the channel: one by hand (--count 1 --body …) or a numbered load with a progress bar',
    )
    .requiredOption('--count <n>', 'messages to publish')
    .option('--rate <r>', 'messages per second (0 = full speed)', '0')
    .option('--size <bytes>', 'payload size in bytes', '100')
    .option('--run-id <id>', 'prefix of every payload (for checkers)', `run${Date.now().toString(36)}`)
    .option('--delay <ms>', 'deliver each message this many ms after publishing (envelope delay)')
    .option('--traceparent <w3c>', 'W3C traceparent every message carries (00-<trace id>-<span id>-<flags>)')
    .option('--tracestate <w3c>', 'W3C tracestate to carry with --traceparent')
    .option('--no-timestamp', 'publish plain payloads without the envelope publish timestamp')
    .option('--json', 'print a JSON summary');
  addMessageFlags(publish).action(
    async (
      options: {
        count: string;
        rate: string;
        size: string;
        runId: string;
        json?: boolean;
        delay?: string;
        timestamp: boolean;
        traceparent?: string;
        tracestate?: string;
      } & RawMessageFlags,
      command: Command,
    ) => {
      // Started by `up` (the demo publisher): a load with nobody left to watch it ends with `up`.
      onParentGone(() => process.exit(0));
      try {
        const count = positiveInt('--count', options.count, 1);
        const rate = positiveInt('--rate', options.rate, 0);
        const size = positiveInt('--size', options.size, 1);
        const delayMs = options.delay === undefined ? undefined : positiveInt('--delay', options.delay, 0);
        const message = parseMessageFlags(options, count);
        const trace = traceContextFlags(options.traceparent, options.tracestate);
        const config = configFrom(command);
        const bar =
          process.stderr.isTTY && !options.json
            ? new SingleBar({
                stream: process.stderr,
                etaBuffer: 50,
                format: 'publish [{bar}] {percentage}% | {value}/{total} | {eta}s left',
              })
            : undefined;
        bar?.start(count, 0);
        const load = {
          count,
          rate,
          size,
          runId: options.runId,
          delayMs,
          timestamp: options.timestamp,
          message,
          ...trace,
          onProgress: (sent: number) => bar?.update(sent),
        };
        const natsSeconds =
          config.ingress === 'redis'
            ? undefined
            : await (async () => {
                const connection = await connectNats({
                  urls: config.natsUrl,
                  tlsCaFile: config.natsTlsCaFile,
                  name: 'redispatch-publish',
                });
                try {
                  return await publishLoadNats(
                    connection,
                    config.natsSubject ?? config.channel,
                    config.ingress === 'jetstream',
                    load,
                  );
                } finally {
                  await connection.drain();
                }
              })();
        const seconds =
          natsSeconds ??
          (await withAdminConnection(config, (redis) =>
            publishLoad(redis, config.channel, load, config.prefix),
          ));
        bar?.stop();
        const summary = {
          count,
          seconds: Number(seconds.toFixed(3)),
          rate: Math.round(count / seconds),
          runId: options.runId,
          channel: config.channel,
        };
        process.stdout.write(
          options.json
            ? `${JSON.stringify(summary)}\n`
            : `published ${count} messages in ${summary.seconds}s (${summary.rate} msg/s) to "${config.channel}"\n`,
        );
      } catch (error) {
        exitWithError(error);
      }
    },
  );
}
