import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from '@redispatch/shared';
import {
  type NatsHandle,
  type NatsServerOptions,
  type RedisHandle,
  startNatsServer,
  startRedis,
} from '@redispatch/shared/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type CliProcess, spawnCli } from './cli-process.js';

/** What one test file shares: its own servers, an admin connection, and everything it must clean up. */
export interface ProcessFixture {
  readonly redis: RedisHandle;
  readonly admin: Redis;
  /** Present when the fixture was asked for NATS. */
  readonly nats: NatsHandle;
  /** Runs `redispatch <args>`; the process is SIGKILLed after the file if still running. */
  spawn(args: string[], env: Record<string, string>): CliProcess;
  /** A temp directory removed after the file. */
  tempDir(name: string): string;
  /** Number of subscribers on a Redis pub/sub channel. */
  subscribers(channel: string): Promise<number>;
}

/**
 * Registers beforeAll/afterAll for a test file: a redis-server on a free port (and nats-server when
 * asked), an admin connection, and cleanup of every process and temp directory the file made.
 */
export function useProcessFixture(options: { nats?: NatsServerOptions } = {}): ProcessFixture {
  let redis: RedisHandle | undefined;
  let nats: NatsHandle | undefined;
  let admin: Redis | undefined;
  const processes: CliProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    [redis, nats] = await Promise.all([
      startRedis(),
      options.nats ? startNatsServer(options.nats) : Promise.resolve(undefined),
    ]);
    admin = createConnection('command', {
      url: redis.url,
      tls: { insecure: false },
      commandTimeoutMs: 5_000,
      name: 'admin',
    });
    await admin.connect();
  });
  afterAll(async () => {
    for (const proc of processes) proc.kill('SIGKILL');
    await Promise.all(processes.map((proc) => proc.exited()));
    admin?.disconnect();
    await Promise.all([redis?.stop(), nats?.stop()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const required = <T>(value: T | undefined, name: string): T => {
    if (value === undefined)
      throw new Error(`fixture: ${name} is not available (outside a test, or not requested)`);
    return value;
  };
  return {
    get redis() {
      return required(redis, 'redis');
    },
    get admin() {
      return required(admin, 'admin connection');
    },
    get nats() {
      return required(nats, 'nats');
    },
    spawn(args, env) {
      const proc = spawnCli(args, env);
      processes.push(proc);
      return proc;
    },
    tempDir(name) {
      const dir = mkdtempSync(join(tmpdir(), `redispatch-${name}-`));
      dirs.push(dir);
      return dir;
    },
    async subscribers(channel) {
      const reply = (await required(admin, 'admin connection').pubsub('NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    },
  };
}
