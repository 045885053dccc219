import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@redispatch/shared/embedded';

/** A nats-server the tests started on a free loopback port. */
export interface NatsHandle {
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  /** Enable JetStream with a file store in a temp dir. */
  jetstream?: boolean;
  /** Extra nats-server arguments (e.g. ['--user', 'u', '--pass', 'p'], ['--auth', token]). */
  args?: string[];
  /**
   * A nats-server configuration file's text (auth blocks, `tls { … }`, accounts), written to the
   * server's temp dir and passed with `-c`. Host, port and JetStream flags still come from the harness.
   */
  config?: string;
}

async function waitForPort(port: number, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nats-server on port ${port} not ready after ${timeoutMs} ms\n${describe()}`);
}

/** Starts `nats-server` from PATH (Debian's package), JetStream optional. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redispatch-nats-'));
  const configArgs: string[] = [];
  if (options.config !== undefined) {
    const file = join(dir, 'nats-server.conf');
    writeFileSync(file, options.config);
    configArgs.push('-c', file);
  }
  const args = [
    ...configArgs,
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    ...(options.jetstream ? ['-js', '-sd', dir] : []),
    ...(options.args ?? []),
  ];
  let output = '';
  const child: ChildProcess = spawn('nats-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A missing binary would otherwise surface only as a port that never opens.
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (error) =>
      reject(new Error(`cannot start nats-server (apt-get install nats-server): ${error.message}`)),
    ),
  );
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([waitForPort(port, 10_000, () => output), spawnFailed]);
  let stopped = false;
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    signal: (signal) => {
      child.kill(signal);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
