import { type RedisServerOptions, startRedisProcess as startProcess } from '@redispatch/shared/embedded';

/** A Redis the tests started; whichever backend started it, tests drive it through this. */
export interface RedisHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly backend: 'process' | 'container';
  /** Sends a signal to the server (SIGKILL, SIGSTOP, SIGCONT); process backend only. */
  signal(signal: NodeJS.Signals): void;
  /** Starts the server again on the same port with the same data directory (after a kill or stop). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `redis-server` from PATH on a free loopback port (the production launcher `up` uses). */
export async function startRedisProcess(options: RedisServerOptions = {}): Promise<RedisHandle> {
  // The launcher's methods are closures over its own process, so a spread keeps them working.
  return { ...(await startProcess(options)), backend: 'process' };
}
