import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { KeeperMessage, WatchMessage } from './embedded-redis-keeper.js';

const KEEPER = fileURLToPath(new URL('./embedded-redis-keeper.js', import.meta.url));

/** The embedded Redis `up` runs when no Redis is configured, owned by a keeper process (see there). */
export interface EmbeddedRedis {
  url: string;
  /** Streams mode: the embedded cluster's seeds (REDISPATCH_CLUSTER_NODES). */
  seeds?: string;
  readonly pid: number;
  /** Tells the keeper which processes to outwait if `up` dies before stopping them. */
  watch(pids: number[], waitMs: number): void;
  stop(): Promise<void>;
}

/** Starts the keeper and resolves once its Redis (or cluster) answers. */
export function startEmbeddedRedis(streams: boolean): Promise<EmbeddedRedis> {
  const keeper = fork(KEEPER, streams ? ['streams'] : [], {
    // Its own process group: a Ctrl-C at the terminal reaches `up` only, which stops Redis last.
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    keeper.once('exit', (code) => reject(new Error(`the embedded Redis keeper exited (code ${code})`)));
    keeper.once('message', (message: KeeperMessage) => {
      if (message.type === 'failed') return reject(new Error(message.message));
      resolve({
        url: message.url,
        ...(message.seeds ? { seeds: message.seeds } : {}),
        pid: keeper.pid ?? -1,
        watch: (pids, waitMs) => {
          const watch: WatchMessage = { type: 'watch', pids, waitMs };
          keeper.send(watch);
        },
        stop: async () => {
          if (keeper.exitCode === null && keeper.signalCode === null) keeper.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
