import type { CliProcess } from './cli-process.js';

/** One "elected leader" log line: the takeover's epoch, what it replayed, and whether the marker matched. */
export interface Takeover {
  pid: number;
  epoch: number;
  replayed: number;
  markerMatched: boolean;
  /** The old leader had stored a marker (false before the first write: nothing to match). */
  hadMarker: boolean;
}

/** Every "elected leader" line of these processes, in epoch order. */
export function takeoversOf(procs: readonly CliProcess[]): Takeover[] {
  const found: Takeover[] = [];
  for (const proc of procs) {
    for (const line of proc.output().split('\n')) {
      if (!line.startsWith('{') || !line.includes('"elected leader"')) continue;
      try {
        const l = JSON.parse(line) as Record<string, unknown>;
        if (l.msg !== 'elected leader') continue;
        found.push({
          pid: proc.pid,
          epoch: Number(l.epoch),
          replayed: Number(l.replayed),
          markerMatched: l.markerMatched === true,
          hadMarker: l.hadMarker === true,
        });
      } catch {
        // a partial last line
      }
    }
  }
  return found.sort((a, b) => a.epoch - b.epoch);
}

/**
 * The most duplicates these takeovers can explain (DESIGN guarantee 2). A takeover whose marker matched
 * replays only what follows the last *written* batch, and a batch is written with its marker in one
 * script call (lists mode; streams mode for unkeyed messages, the round-robin partition's call), so it
 * adds none. Only in streams mode with publisher ids or affinity keys does a batch span partitions,
 * written one call each with the marker's last: a leader killed in between wrote part of a batch whose
 * marker never landed, at most one batch (`splitBatchSize`). A takeover whose marker did not match
 * replays its whole buffer: what it replayed is the bound.
 */
export function failoverDuplicateBound(takeovers: readonly Takeover[], splitBatchSize = 0): number {
  let bound = 0;
  for (const t of takeovers) bound += t.markerMatched ? Math.min(t.replayed, splitBatchSize) : t.replayed;
  return bound;
}

/**
 * Takeovers that should have found the marker and did not: a marker was stored and the new leader's
 * buffer held something to replay. (An empty buffer replays nothing whatever the marker — a dispatcher
 * started after the last message was published — and before the first write there is no marker.)
 */
export function unmatchedWithReplay(takeovers: readonly Takeover[]): Takeover[] {
  return takeovers.filter((t) => t.hadMarker && t.replayed > 0 && !t.markerMatched);
}

/** A readable list of takeovers for assertion messages. */
export function describeTakeovers(takeovers: readonly Takeover[]): string {
  return takeovers
    .map(
      (t) =>
        `epoch ${t.epoch} pid ${t.pid}: replayed ${t.replayed}, marker ${t.hadMarker ? (t.markerMatched ? 'matched' : 'NOT matched') : 'none stored yet'}`,
    )
    .join('; ');
}
