import { describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../src/standby/replay-buffer.js';

/**
 * A standby keeps raw payloads and fingerprints lazily (searching from the newest entry); these pin
 * that it still finds exactly what a leader marking every message finds: the first match wins.
 */
const limits = { maxMessages: 1_000, maxBytes: 1_000_000, maxAgeMs: 60_000 };
const bufs = (texts: string[]) => texts.map((t) => Buffer.from(t));

/** The markers a leader computes for a stream, one per message. */
function leaderMarkers(stream: Buffer[]): string[] {
  const leader = new ReplayBuffer(limits);
  return stream.map((p) => leader.mark(p).marker);
}

describe('ReplayBuffer kept lazily (standby)', () => {
  it('trims through the first of several messages whose windows match, not the newest', () => {
    const stream = bufs(['x', 'x', 'x', 'y', 'x', 'x', 'x', 'z']);
    const markers = leaderMarkers(stream);
    // The window of message 2 (x x x) recurs at message 6.
    expect(markers[6]).toBe(markers[2]);
    const standby = new ReplayBuffer(limits);
    for (const p of stream) standby.keep(p);
    expect(standby.trimThrough(markers[2] ?? '')).toBe(3);
    const { replay, matched } = standby.takeUnwritten(markers[2] ?? '');
    expect(matched).toBe(true);
    // The marker was trimmed through; what follows its *second* occurrence is replayed, as before.
    expect(replay.map((r) => r.payload.toString())).toEqual(['z']);
  });

  it('replays everything after the first match when taking over, each with the marker a leader gives it', () => {
    const stream = bufs(['a', 'b', 'a', 'b', 'c', 'd']);
    const markers = leaderMarkers(stream);
    const standby = new ReplayBuffer(limits);
    for (const p of stream) standby.keep(p);
    const { replay, matched } = standby.takeUnwritten(markers[3] ?? '');
    expect(matched).toBe(true);
    expect(replay.map((r) => r.payload.toString())).toEqual(['c', 'd']);
    expect(replay.map((r) => r.marker)).toEqual(markers.slice(4));
  });

  it('still finds a marker whose window reaches into evicted or trimmed entries', () => {
    const stream = bufs(['a', 'b', 'c', 'd', 'e']);
    const markers = leaderMarkers(stream);
    const standby = new ReplayBuffer({ ...limits, maxMessages: 3 });
    for (const p of stream) standby.keep(p);
    expect(standby.evicted).toBe(2);
    // 'c' is the head now; its window (a, b) was evicted.
    expect(standby.trimThrough(markers[2] ?? '')).toBe(1);
    // 'e' has 'c' (trimmed) two before it.
    expect(standby.trimThrough(markers[4] ?? '')).toBe(2);
    expect(standby.size).toBe(0);
  });

  it('tells two windows apart by the message two before, also at the head after evictions', () => {
    const stream = bufs(['p', 'b', 'c', 'q', 'b', 'c']);
    const markers = leaderMarkers(stream);
    const standby = new ReplayBuffer({ ...limits, maxMessages: 4 });
    for (const p of stream) standby.keep(p);
    // The head is the first 'c' (p, b evicted): same bytes and same one-before as the last, not two before.
    expect(standby.trimThrough(markers[5] ?? '')).toBe(4);
  });

  it('keeps markers right across leading and stepping down (messages put back, then kept)', () => {
    const stream = bufs(['m1', 'm2', 'm3', 'm4', 'm5']);
    const markers = leaderMarkers(stream);
    const switching = new ReplayBuffer(limits);
    const led = stream.slice(0, 2).map((p) => switching.mark(p));
    switching.unshift(led);
    for (const p of stream.slice(2)) switching.keep(p);
    expect(switching.trimThrough(markers[1] ?? '')).toBe(2);
    const { replay, matched } = switching.takeUnwritten(markers[3] ?? '');
    expect(matched).toBe(true);
    expect(replay.map((r) => r.payload.toString())).toEqual(['m5']);
    expect(replay[0]?.marker).toBe(markers[4]);
  });

  it('after a gap, a match kept before the gap proves nothing', () => {
    const stream = bufs(['a', 'b', 'c']);
    const markers = leaderMarkers(stream);
    const standby = new ReplayBuffer(limits);
    for (const p of stream) standby.keep(p);
    const gapAt = performance.now() + 1;
    expect(standby.trimThrough(markers[2] ?? '', gapAt)).toBe(0);
    expect(standby.size).toBe(3);
  });
});
