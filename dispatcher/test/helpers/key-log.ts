import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Publisher } from '@redispatch/shared';
import type { Redis } from 'ioredis';

/** The per-key limit tests' handler (fixtures/key-recorder.mjs). */
export const KEY_RECORDER = fileURLToPath(new URL('../fixtures/key-recorder.mjs', import.meta.url));

/** One line of the shared handler log: a handler began or ended, or the test killed a worker. */
export interface KeyEvent {
  kind: 'start' | 'end' | 'killed';
  key: string;
  seq: number;
  pid: number;
  ms: number;
}

export function readKeyLog(dir: string): KeyEvent[] {
  const file = join(dir, 'keys.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind, key, seq, pid, ms] = line.split(' ');
      return {
        kind: kind as KeyEvent['kind'],
        key: key as string,
        seq: Number(seq),
        pid: Number(pid),
        ms: Number(ms),
      };
    });
}

/** Marks in the log that `pid` was SIGKILLed (its open handlers end there). Call once it exited. */
export function markKilled(dir: string, pid: number): void {
  appendFileSync(join(dir, 'keys.log'), `killed - 0 ${pid} ${Date.now()}\n`);
}

export interface KeyLogSummary {
  /** Messages whose handler ended at least once. */
  ended: number;
  /** Per key: the seqs in the order their handler first began. */
  firstStarts: Map<string, number[]>;
  /** Per key: the most handlers of that key running at one moment (line order is real order). */
  maxInHandler: Map<string, number>;
  /** Per key: the line index of its last end. */
  lastEnd: Map<string, number>;
}

export function summarise(events: readonly KeyEvent[]): KeyLogSummary {
  const ended = new Set<string>();
  const started = new Set<string>();
  const firstStarts = new Map<string, number[]>();
  const open = new Map<string, Set<string>>();
  const maxInHandler = new Map<string, number>();
  const lastEnd = new Map<string, number>();
  events.forEach((e, index) => {
    if (e.kind === 'killed') {
      for (const running of open.values())
        for (const entry of running) if (entry.endsWith(` ${e.pid}`)) running.delete(entry);
      return;
    }
    const id = `${e.key} ${e.seq}`;
    const running = open.get(e.key) ?? new Set<string>();
    open.set(e.key, running);
    if (e.kind === 'start') {
      if (!started.has(id)) {
        started.add(id);
        firstStarts.set(e.key, [...(firstStarts.get(e.key) ?? []), e.seq]);
      }
      running.add(`${e.seq} ${e.pid}`);
      maxInHandler.set(e.key, Math.max(maxInHandler.get(e.key) ?? 0, running.size));
    } else {
      running.delete(`${e.seq} ${e.pid}`);
      ended.add(id);
      lastEnd.set(e.key, index);
    }
  });
  return { ended: ended.size, firstStarts, maxInHandler, lastEnd };
}

/**
 * Publishes `perKey` messages ("<key> <seq>") for each key, interleaved round-robin across the keys,
 * each with its affinity key and a publisher id (so a failover's replay cannot add a second copy).
 */
export async function publishKeyed(
  redis: Redis,
  channel: string,
  keys: readonly string[],
  perKey: number,
  order: 'interleaved' | 'by-key' = 'interleaved',
): Promise<void> {
  const publisher = new Publisher({ redis, channel });
  const items: { key: string; seq: number }[] = [];
  if (order === 'interleaved') {
    for (let seq = 0; seq < perKey; seq++) for (const key of keys) items.push({ key, seq });
  } else {
    for (const key of keys) for (let seq = 0; seq < perKey; seq++) items.push({ key, seq });
  }
  for (const { key, seq } of items)
    await publisher.publish(`${key} ${seq}`, { id: `${key}-${seq}`, affinityKey: key });
}

/**
 * Per key, ms from one message's handler end to the next message's first start (same key, next seq):
 * with a concurrency limit of 1 that is the release latency (settle, slot freed, next let in, claimed).
 */
export function releaseGapsMs(events: readonly KeyEvent[]): number[] {
  const firstStart = new Map<string, number>();
  const lastEnd = new Map<string, number>();
  for (const e of events) {
    const id = `${e.key} ${e.seq}`;
    if (e.kind === 'start' && !firstStart.has(id)) firstStart.set(id, e.ms);
    if (e.kind === 'end') lastEnd.set(id, e.ms);
  }
  const gaps: number[] = [];
  for (const [id, end] of lastEnd) {
    const [key, seq] = id.split(' ');
    const next = firstStart.get(`${key} ${Number(seq) + 1}`);
    if (next !== undefined) gaps.push(next - end);
  }
  return gaps.sort((a, b) => a - b);
}

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
