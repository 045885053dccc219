/**
 * The embedded Redis of `redispatch up`, owned by a small process of its own: it starts redis-server
 * (or, in streams mode, a 3-master cluster), tells `up` the address over IPC, and stops it when told
 * to (SIGTERM) or when `up` is gone. A SIGKILLed `up` runs no code, so this process is what notices
 * (its IPC channel closes) and stops the servers — after the children `up` named have exited, so
 * their drain still has a Redis to drain into.
 *
 * Messages: keeper → up `{ type: 'ready', url, seeds? }` or `{ type: 'failed', message }`;
 * up → keeper `{ type: 'watch', pids, waitMs }`.
 */
import { hasRedisServerBinary, startRedisCluster, startRedisProcess } from '@redispatch/shared/embedded';
import { onParentGone } from './parent-link.js';

export type KeeperMessage =
  | { type: 'ready'; url: string; seeds?: string }
  | { type: 'failed'; message: string };
export interface WatchMessage {
  type: 'watch';
  pids: number[];
  /** Longest wait for those processes after `up` is gone (their drain timeout and a margin). */
  waitMs: number;
}

interface Started {
  url: string;
  seeds?: string;
  stop(): Promise<void>;
}

const POLL_MS = 100;

async function startServers(streams: boolean): Promise<Started> {
  if (streams) {
    if (!hasRedisServerBinary())
      throw new Error(
        'REDISPATCH_CLUSTER_NODES is unset and no embedded cluster could start: it needs redis-server and redis-cli on PATH (apt-get install redis-server redis-tools); or point REDISPATCH_CLUSTER_NODES at a cluster',
      );
    const cluster = await startRedisCluster({ masters: 3 });
    const first = cluster.nodes[0];
    return { url: `redis://${first?.host}:${first?.port}`, seeds: cluster.seeds, stop: () => cluster.stop() };
  }
  if (!hasRedisServerBinary())
    throw new Error(
      'REDISPATCH_REDIS_URL is unset and no embedded Redis could start: no redis-server on PATH (apt-get install redis-server); install it, or point REDISPATCH_REDIS_URL at a Redis',
    );
  return startRedisProcess();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const send = (message: KeeperMessage) => process.send?.(message);
  let servers: Started;
  try {
    servers = await startServers(process.argv[2] === 'streams');
  } catch (error) {
    send({ type: 'failed', message: (error as Error).message });
    process.exit(1);
  }
  let watched: WatchMessage = { type: 'watch', pids: [], waitMs: 0 };
  let stopping = false;
  const stop = async (waitForChildren: boolean) => {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + watched.waitMs;
    while (waitForChildren && Date.now() < deadline && watched.pids.some(alive))
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    await servers.stop().catch(() => {});
    process.exit(0);
  };
  process.on('message', (message: WatchMessage) => {
    if (message?.type === 'watch') watched = message;
  });
  process.on('SIGTERM', () => void stop(false));
  process.on('SIGINT', () => void stop(false));
  if (!onParentGone(() => void stop(true))) {
    process.stderr.write('embedded-redis-keeper: run by `redispatch up` only\n');
    await servers.stop();
    process.exit(2);
  }
  send({ type: 'ready', url: servers.url, ...(servers.seeds ? { seeds: servers.seeds } : {}) });
  // Keep running: the IPC channel is unref'd by the parent watch.
  setInterval(() => {}, 1 << 30);
}

await main();
