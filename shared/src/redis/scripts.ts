import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis, Result } from 'ioredis';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');
const INCLUDE = /^--- @include ([a-z-]+)\s*$/gm;

type Arg = string | number | Buffer;

/** Lua scripts registered with `defineCommand`; ioredis handles EVALSHA and the NOSCRIPT retry. */
declare module 'ioredis' {
  interface RedisCommander<Context> {
    rdElect(
      epoch: string,
      leader: string,
      id: string,
      host: string,
      pid: number,
      leaseMs: number,
      floor?: number,
    ): Result<number, Context>;
    rdResign(epoch: string, leader: string, leaderEpoch: number, id?: string): Result<number, Context>;
    /** numKeys first: the queue keys vary with the live workers. */
    rdDispatchBatch(numKeys: number, ...keysThenArgs: Arg[]): Result<number[], Context>;
    rdReap(...keysThenArgs: Arg[]): Result<(number | string)[], Context>;
    rdClaim(...keysThenArgs: Arg[]): Result<(number | string | Buffer)[], Context>;
    rdClaimBuffer(...keysThenArgs: Arg[]): Result<(number | Buffer)[], Context>;
    rdSettle(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdSettleClaim(...keysThenArgs: Arg[]): Result<(number | string | Buffer)[], Context>;
    rdSettleClaimBuffer(...keysThenArgs: Arg[]): Result<(number | Buffer)[], Context>;
    rdExtend(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdHeartbeat(workers: string, workerId: string, action: 'beat' | 'leave'): Result<number, Context>;
    rdDlqReplay(...keysThenArgs: Arg[]): Result<number, Context>;
    rdDlqPurge(...keysThenArgs: Arg[]): Result<number, Context>;
    rdDlqPurgeIds(...keysThenArgs: Arg[]): Result<number, Context>;
    rdOutboundTakeBuffer(
      source: string,
      processing: string,
      count: number,
    ): Result<(number | Buffer)[], Context>;
    rdOutboundSettle(processing: string, dead: string, ...args: Arg[]): Result<number[], Context>;
    rdOutboundReturn(processing: string, source: string): Result<number, Context>;
    rdOutboundWrite(relays: string, ...args: Arg[]): Result<number[], Context>;
    rdRelaySweep(
      relays: string,
      dead: string,
      retentionMs: number,
      tag: string,
      limit: number,
    ): Result<number[], Context>;
    // Streams mode: every script touches one partition's slot.
    rdStreamFence(fence: string, stream: string, epoch: number, group: string): Result<number[], Context>;
    rdStreamAppend(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdStreamSettle(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdStreamExtend(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdStreamReclaimBuffer(...keysThenArgs: Arg[]): Result<(number | Buffer)[], Context>;
    rdStreamMaintain(...keysThenArgs: Arg[]): Result<(number | string)[], Context>;
    rdStreamKeyRelease(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdStreamDlqReplay(...keysThenArgs: Arg[]): Result<number, Context>;
    rdStreamDlqPurge(dlq: string, limit: number): Result<number, Context>;
    rdStreamDlqReplayEntries(...keysThenArgs: Arg[]): Result<number, Context>;
    rdFlowRequest(flow: string, requested: 'paused' | 'running'): Result<number, Context>;
    rdFlowApply(
      epoch: string,
      flow: string,
      held: string,
      backlog: string,
      leaderEpoch: number,
      limit: number,
    ): Result<number[], Context>;
    rdFlowRelease(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdFlowTake(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdKeyRelease(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdScheduleEdit(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdScheduleFire(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdScheduleAdvance(...keysThenArgs: Arg[]): Result<number[], Context>;
    rdLiveWorkers(workers: string, ttlMs: number): Result<(number | string)[], Context>;
    rdDelayedHead(delayed: string): Result<number, Context>;
  }
}

function loadLua(file: string): string {
  const source = readFileSync(join(LUA_DIR, file), 'utf8');
  return source.replace(INCLUDE, (_line, name: string) =>
    readFileSync(join(LUA_DIR, 'includes', `${name}.lua`), 'utf8'),
  );
}

/** Registers every `lua/<camelName>-<numKeys>[+].lua` as `rd<CamelName>`; `+` means a variable key count. */
export function defineScripts(client: Redis | Cluster): void {
  for (const file of readdirSync(LUA_DIR)) {
    const match = /^([a-zA-Z]+)-(\d+)(\+?)\.lua$/.exec(file);
    if (!match) continue;
    const [, camel = '', keys = '0', variable] = match;
    const name = `rd${camel.charAt(0).toUpperCase()}${camel.slice(1)}`;
    const lua = loadLua(file);
    client.defineCommand(name, variable ? { lua } : { lua, numberOfKeys: Number(keys) });
  }
}
