import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/** A redis-server child process on a loopback port (`redispatch up`'s embedded Redis, and the test harness's). */
export interface RedisProcess {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Sends a signal to the server (SIGKILL, SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void;
  /** Starts the server again on the same port with the same data directory (after a kill or stop). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Extra redis-server arguments, e.g. ['--appendonly', 'yes']. */
  args?: string[];
  port?: number;
}

export function hasRedisServerBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** One PING over a raw socket: "+PONG" (or "-NOAUTH" from a server with requirepass) means it is up. */
function pingOnce(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let reply = '';
    let settled = false;
    const done = (error?: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve(reply);
    };
    socket.setTimeout(500, () => done(new Error('no answer within 500 ms')));
    socket.once('error', (error) => done(error));
    // Docker's port proxy accepts and then closes while the server inside is still starting.
    socket.once('close', () => done(new Error('connection closed before a reply')));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done();
    });
  });
}

/** Polls PING until the server answers, or fails with what the server printed. */
export async function waitForRedis(url: string, timeoutMs: number, describe: () => string): Promise<void> {
  const { hostname, port } = new URL(url);
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      const reply = await pingOnce(hostname.replace(/^\[(.*)\]$/, '$1'), Number(port || 6379));
      if (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')) return;
      lastError = reply.trim();
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis at ${url} not ready after ${timeoutMs} ms (${lastError})\n${describe()}`);
}

/** Starts `redis-server` from PATH on a free loopback port, nothing persisted unless args say so. */
export async function startRedisProcess(options: RedisServerOptions = {}): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'redispatch-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--protected-mode',
    'no',
    // Benchmarks and fault tests push the leader's subscriber hard; see docs/guarantees.md "Pub/sub output buffers".
    '--client-output-buffer-limit',
    'pubsub',
    '256mb',
    '64mb',
    '60',
    ...(options.args ?? []),
  ];
  let child: ChildProcess;
  let output = '';
  const launch = async () => {
    output = '';
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    await waitForRedis(`redis://127.0.0.1:${port}`, 10_000, () => output);
  };
  await launch();
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    signal: (signal) => {
      child.kill(signal);
    },
    restart: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
