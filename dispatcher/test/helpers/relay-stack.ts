import { fileURLToPath } from 'node:url';
import {
  createConnection,
  createKeys,
  decodeDeadOutboundEntry,
  type Keys,
  relayAddress,
} from '@redispatch/shared';
import { freePort } from '@redispatch/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { WebSocket } from 'ws';
import { ReplyBinding } from '../../src/relay/reply-binding.js';
import type { CliProcess } from './cli-process.js';
import { type TestEnv, testEnv, uniquePrefix } from './in-process.js';
import type { ProcessFixture } from './process-fixture.js';

export const REPLY_HANDLER = fileURLToPath(new URL('../fixtures/reply-handler.mjs', import.meta.url));

export interface Stack {
  prefix: string;
  keys: Keys;
  env: TestEnv;
  relayPort: number;
  relayId: string;
  dispatcher: CliProcess;
  worker: CliProcess | undefined;
  relay: CliProcess;
  startRelay(): Promise<CliProcess>;
  /** Stops the running relay (SIGTERM) and starts it again with extra settings. */
  startRelayWith(extra: Record<string, string>): Promise<CliProcess>;
  startWorker(): Promise<CliProcess>;
  /** SIGKILLs every process of the stack (the fixture would only at the end of the file). */
  stop(): Promise<void>;
}

const running: Stack[] = [];

/** Stops every stack started since the last call: call it in afterEach to keep the box unloaded. */
export async function stopStacks(): Promise<void> {
  await Promise.all(running.splice(0).map((stack) => stack.stop()));
}

/** A dispatcher, a worker running the reply handler and a relay, as real CLI processes. */
export async function startStack(
  fx: ProcessFixture,
  name: string,
  extra: Record<string, string> = {},
  options: { worker?: boolean; redisIngress?: boolean; streams?: boolean } = {},
): Promise<Stack> {
  const prefix = uniquePrefix(name);
  const relayPort = await freePort();
  const relayId = `relay-${prefix}`;
  // Streams mode: the fixture's Redis Cluster (every relay key sits in the deployment's slot).
  const first = options.streams ? fx.cluster.nodes[0] : undefined;
  const modeEnv: Record<string, string> = options.streams
    ? { REDISPATCH_MODE: 'streams', REDISPATCH_CLUSTER_NODES: fx.cluster.seeds }
    : {};
  const env = testEnv(first ? first.url : fx.redis.url, prefix, {
    ...modeEnv,
    REDISPATCH_RELAY_PORT: String(relayPort),
    REDISPATCH_RELAY_HOST: '127.0.0.1',
    REDISPATCH_DRAIN_TIMEOUT_MS: '1000',
    ...extra,
  });
  const dispatcher = fx.spawn(['dispatcher'], env);
  const processes: CliProcess[] = [dispatcher];
  const stack: Stack = {
    prefix,
    keys: createKeys(prefix),
    env,
    relayPort,
    relayId,
    dispatcher,
    worker: undefined,
    relay: undefined as unknown as CliProcess,
    startRelay: () => stack.startRelayWith({}),
    async startRelayWith(more) {
      if (stack.relay) {
        stack.relay.kill('SIGTERM');
        await stack.relay.exited();
      }
      const relay = fx.spawn(['relay'], { ...env, REDISPATCH_INSTANCE_ID: relayId, ...more });
      processes.push(relay);
      await relay.waitForLog(/relay listening/);
      stack.relay = relay;
      return relay;
    },
    async startWorker() {
      const worker = fx.spawn(['worker', '--handler', REPLY_HANDLER, '--concurrency', '64'], env);
      processes.push(worker);
      await worker.waitForLog(/worker registered/);
      stack.worker = worker;
      return worker;
    },
    async stop() {
      for (const proc of processes) proc.kill('SIGKILL');
      await Promise.all(processes.map((proc) => proc.exited()));
    },
  };
  running.push(stack);
  await Promise.all([
    stack.startRelay(),
    options.worker === false ? Promise.resolve() : stack.startWorker(),
    dispatcher.waitForLog(/elected leader/),
  ]);
  if (options.redisIngress !== false)
    await expect.poll(() => fx.subscribers(env.REDISPATCH_CHANNEL), { timeout: 10_000 }).toBe(1);
  return stack;
}

export interface Received {
  data: Buffer;
  binary: boolean;
}

export interface Client {
  ws: WebSocket;
  session: string;
  /** The resume secret of a new session (empty on a resume: it is handed out once). */
  secret: string;
  received: Received[];
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Resume this session (`?session=`), presenting `secret` in the x-redispatch-resume header. */
  session?: string;
  secret?: string;
  headers?: Record<string, string>;
  protocols?: string[];
  /** wss:// instead of ws://, trusting this CA. */
  ca?: Buffer;
}

/** A real `ws` client; resolves once open, with the session id the relay assigned (or resumed). */
export function connect(port: number, options: ConnectOptions | string = {}): Promise<Client> {
  const o: ConnectOptions = typeof options === 'string' ? { session: options } : options;
  const scheme = o.ca ? 'wss' : 'ws';
  const url = `${scheme}://127.0.0.1:${port}/${o.session ? `?session=${o.session}` : ''}`;
  const headers = { ...o.headers, ...(o.secret ? { 'x-redispatch-resume': o.secret } : {}) };
  const ws = new WebSocket(url, o.protocols ?? [], {
    headers,
    ...(o.ca ? { ca: o.ca, servername: 'localhost' } : {}),
  });
  const received: Received[] = [];
  ws.on('message', (data, binary) => {
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    received.push({ data: bytes, binary });
  });
  return new Promise((resolve, reject) => {
    let assigned = '';
    let secret = '';
    ws.once('upgrade', (response) => {
      assigned = String(response.headers['x-redispatch-session'] ?? '');
      secret = String(response.headers['x-redispatch-resume'] ?? '');
    });
    ws.once('unexpected-response', (_request, response) =>
      reject(new Error(`relay answered ${response.statusCode} instead of upgrading`)),
    );
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        session: assigned,
        secret,
        received,
        close: () =>
          new Promise<void>((done) => {
            if (ws.readyState === ws.CLOSED) return done();
            ws.once('close', () => done());
            ws.close();
          }),
      }),
    );
  });
}

/**
 * A reply address bound to `session` exactly as the relay mints one for an inbound frame (same key,
 * read from the relay's sessions hash): what a test uses to queue a reply by hand.
 */
export async function boundAddress(
  stack: Stack,
  admin: Redis,
  session: string,
  nowMs?: number,
): Promise<string> {
  const binding = new ReplyBinding(60_000);
  await binding.load(admin, stack.keys.relaySessions(stack.relayId));
  return relayAddress(stack.relayId, session, binding.mint(session, nowMs).binding);
}

/** A publisher connection to the fixture's Redis for the whole file (opened before, closed after). */
export function usePublisherRedis(fx: ProcessFixture, name: string): { readonly redis: Redis } {
  let redis: Redis | undefined;
  beforeAll(async () => {
    redis = createConnection('command', {
      url: fx.redis.url,
      tls: { insecure: false },
      commandTimeoutMs: 5_000,
      name,
    });
    await redis.connect();
  });
  afterAll(() => redis?.disconnect());
  return {
    get redis() {
      if (!redis) throw new Error('publisher connection used outside a test');
      return redis;
    },
  };
}

/** The outbound dead letters under `key`, newest first, decoded. */
export async function outboundDeadLetters(admin: Redis, key: string) {
  const raw = await admin.lrangeBuffer(key, 0, -1);
  return raw.map((entry) => decodeDeadOutboundEntry(entry));
}
