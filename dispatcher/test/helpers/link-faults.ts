import { performance } from 'node:perf_hooks';
import { type FaultCluster, sleep } from './fault-cluster.js';
import { seconds } from './fault-table.js';

/** What scenario 5 does to a leader's links: one TcpProxy, or every proxy of a dispatcher's set. */
export interface FaultableLink {
  setLatency(ms: number): void;
  stall(direction?: 'up' | 'both'): void;
  watchReplies(pattern: Buffer): void;
  resume(): void;
  cut(refuseMs: number): void;
  readonly watchedReplies: number;
}

/** The reply a fenced script gives, `{-1}` in RESP: counted on the way back to a stalled ex-leader. */
export const FENCED_REPLY = Buffer.from('*1\r\n:-1\r\n');

export interface LinkFaultOutcome {
  /** One entry per phase for the fault table ("cut: takeover 1.42 s"). */
  phases: string[];
  /** Fenced replies that reached the stalled ex-leader after it resumed. */
  fenced: number;
}

/**
 * Scenario 5's four phases, each on whoever leads when it starts, in both modes:
 * a) 60 ms each way for 2 s (the lease must hold); b) a one-way stall of what the leader sends for
 * 1.6 s, past the 1 s lease, then late delivery (the new leader raised the fences, so the late writes
 * must come back fenced); c) a cut: every connection reset and new ones refused for 1.5 s; d) a stall
 * both ways for 1.2 s, then what was held dropped (reset, refuse 0.5 s). b–d must each bring a takeover.
 */
export async function runLinkFaults(
  fleet: FaultCluster,
  linkOf: (pid: number) => FaultableLink,
): Promise<LinkFaultOutcome> {
  const phases: string[] = [];

  const a = await fleet.leader();
  linkOf(a.proc.pid).setLatency(60);
  await sleep(2_000);
  linkOf(a.proc.pid).setLatency(0);
  phases.push(`latency: ${(await fleet.stats()).epoch === a.epoch ? 'same leader' : 'leader changed'}`);

  const b = await fleet.leader();
  let at = performance.now();
  linkOf(b.proc.pid).stall('up');
  const afterStall = await fleet.newLeader(b.epoch, at);
  await sleep(Math.max(0, 1_600 - (performance.now() - at)));
  linkOf(b.proc.pid).watchReplies(FENCED_REPLY);
  linkOf(b.proc.pid).resume();
  await sleep(1_000);
  const fenced = linkOf(b.proc.pid).watchedReplies;
  phases.push(`one-way stall: takeover ${seconds(afterStall.ms)}`);

  const c = await fleet.leader();
  at = performance.now();
  linkOf(c.proc.pid).cut(1_500);
  const afterCut = await fleet.newLeader(c.epoch, at);
  phases.push(`cut: takeover ${seconds(afterCut.ms)}`);
  await sleep(1_000);

  const d = await fleet.leader();
  at = performance.now();
  linkOf(d.proc.pid).stall();
  await sleep(1_200);
  linkOf(d.proc.pid).cut(500);
  const afterDrop = await fleet.newLeader(d.epoch, at);
  phases.push(`stall+drop: takeover ${seconds(afterDrop.ms)}`);

  return { phases, fenced };
}
