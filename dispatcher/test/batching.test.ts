import { describe, expect, it } from 'vitest';
import { type Batch, Batcher } from '../src/routing/batcher.js';
import { rendezvousIndex } from '../src/routing/placement.js';
import { ReplayBuffer } from '../src/standby/replay-buffer.js';

const received = (text: string) => ({ payload: Buffer.from(text), marker: text });

function batcher(
  write: (batch: Batch) => Promise<void>,
  overrides: Partial<ConstructorParameters<typeof Batcher>[0]> = {},
) {
  let id = 0;
  const events: string[] = [];
  const b = new Batcher({
    maxBatch: 3,
    write,
    nextId: () => String(++id),
    isFatal: (error) => (error as Error).message === 'fatal',
    onFatal: () => events.push('fatal'),
    onRetry: () => events.push('retry'),
    maxPendingBytes: 1 << 30,
    maxPending: 1_000_000,
    onFull: (held) => events.push(`full ${held.count} ${held.bytes}`),
    ...overrides,
  });
  return { b, events };
}

describe('Batcher', () => {
  it('calls onFull once when what it holds unwritten crosses its byte or count bound', async () => {
    // Every write fails: the batch in hand is retried and new arrivals pile up behind it.
    const bytes = batcher(async () => Promise.reject(new Error('OOM command not allowed')), {
      maxPendingBytes: 100,
    });
    for (let i = 0; i < 30; i++) bytes.b.add(received('0123456789'));
    expect(bytes.events.filter((e) => e.startsWith('full'))).toEqual(['full 11 110']);
    expect(bytes.b.heldBytes).toBe(300);
    bytes.b.stop();
    const count = batcher(async () => Promise.reject(new Error('OOM command not allowed')), {
      maxPending: 5,
    });
    for (let i = 0; i < 8; i++) count.b.add(received('x'));
    expect(count.events.filter((e) => e.startsWith('full'))).toEqual(['full 6 6']);
    count.b.stop();
    expect(count.b.heldBytes).toBe(0);
  });

  it('writes what arrived in one event-loop turn as one batch, capped at maxBatch, one write in flight', async () => {
    const batches: string[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const { b } = batcher(async (batch) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      batches.push(batch.payloads.map(String));
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
    });
    for (const text of ['a', 'b', 'c', 'd', 'e']) b.add(received(text));
    await b.drain();
    expect(batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    expect(maxInFlight).toBe(1);
  });

  it('flushes on the next turn when idle (no timer) and carries markers with the batch', async () => {
    const seen: Batch[] = [];
    const { b } = batcher(async (batch) => {
      seen.push(batch);
    });
    b.add(received('only'));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.marker).toBe('only');
  });

  it('retries a failed batch with the same ids, then goes on', async () => {
    const attempts: string[][] = [];
    let fail = true;
    const { b, events } = batcher(async (batch) => {
      attempts.push(batch.ids);
      if (fail) {
        fail = false;
        throw new Error('transient');
      }
    });
    b.add(received('x'));
    b.add(received('y'));
    await b.drain();
    expect(events).toEqual(['retry']);
    expect(attempts).toEqual([
      ['1', '2'],
      ['1', '2'],
    ]);
  });

  it('stops on a fatal error and hands back everything unwritten, in order', async () => {
    const { b, events } = batcher(async () => {
      throw new Error('fatal');
    });
    for (const text of ['a', 'b', 'c', 'd']) b.add(received(text));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(events).toEqual(['fatal']);
    expect(b.stop().map((r) => r.payload.toString())).toEqual(['a', 'b', 'c', 'd']);
  });

  it('hands back the batch whose write is still in flight when stopped (Redis gone mid-write)', async () => {
    let started = false;
    const { b } = batcher(() => {
      started = true;
      // The reply never comes: the connection died with the write on it.
      return new Promise<void>(() => {});
    });
    b.add(received('a'));
    b.add(received('b'));
    await expect.poll(() => started).toBe(true);
    b.add(received('c'));
    expect(b.stop().map((r) => r.payload.toString())).toEqual(['a', 'b', 'c']);
  });

  it('writes an empty batch when kicked (drains the backlog into freed room)', async () => {
    const sizes: number[] = [];
    const { b } = batcher(async (batch) => {
      sizes.push(batch.ids.length);
    });
    b.kick();
    await b.drain();
    expect(sizes).toEqual([0]);
  });
});

describe('ReplayBuffer', () => {
  const limits = { maxMessages: 1_000, maxBytes: 1_000_000, maxAgeMs: 60_000 };

  it('gives every subscriber the same marker for the same message once it has seen the two before it', () => {
    const leader = new ReplayBuffer(limits);
    const standby = new ReplayBuffer(limits);
    const stream = ['m1', 'm2', 'm3', 'm4', 'm5'].map((t) => Buffer.from(t));
    const leaderMarks = stream.map((p) => leader.mark(p).marker);
    // The standby subscribed one message late: markers agree from its third message on.
    const standbyMarks = stream.slice(1).map((p) => standby.mark(p).marker);
    expect(standbyMarks.slice(2)).toEqual(leaderMarks.slice(3));
    expect(standbyMarks[0]).not.toEqual(leaderMarks[1]);
  });

  it('replays exactly what follows the last written marker, or everything when the marker is unknown', () => {
    const buffer = new ReplayBuffer(limits);
    const marks = ['a', 'b', 'c', 'd', 'e'].map((t) => {
      const r = buffer.mark(Buffer.from(t));
      buffer.push(r);
      return r.marker;
    });
    expect(buffer.trimThrough(marks[1] ?? '')).toBe(2);
    const after = buffer.takeUnwritten(marks[3] ?? '');
    expect(after.matched).toBe(true);
    expect(after.replay.map((r) => r.payload.toString())).toEqual(['e']);

    const other = new ReplayBuffer(limits);
    for (const t of ['x', 'y']) other.push(other.mark(Buffer.from(t)));
    const unknown = other.takeUnwritten('never-seen');
    expect(unknown.matched).toBe(false);
    expect(unknown.replay).toHaveLength(2);
  });

  it('treats the marker it last trimmed through as proof that nothing after it was written', () => {
    const buffer = new ReplayBuffer(limits);
    const first = buffer.mark(Buffer.from('a'));
    buffer.push(first);
    buffer.push(buffer.mark(Buffer.from('b')));
    buffer.trimThrough(first.marker);
    expect(buffer.trimmedThrough(first.marker)).toBe(true);
    const { replay, matched } = buffer.takeUnwritten(first.marker);
    expect(matched).toBe(true);
    expect(replay.map((r) => r.payload.toString())).toEqual(['b']);
  });

  it('is bounded by count and bytes, counting what it evicts', () => {
    const buffer = new ReplayBuffer({ maxMessages: 3, maxBytes: 10, maxAgeMs: 60_000 });
    for (const t of ['aaaa', 'bbbb', 'cccc', 'dd']) buffer.push(buffer.mark(Buffer.from(t)));
    expect(buffer.size).toBe(3);
    expect(buffer.byteSize).toBeLessThanOrEqual(10);
    expect(buffer.evicted).toBe(1);
  });
});

describe('rendezvous affinity', () => {
  it('is stable and moves only the keys of a worker that leaves', () => {
    const workers = ['w1', 'w2', 'w3', 'w4'];
    const keys = Array.from({ length: 2_000 }, (_, i) => `key-${i}`);
    const before = keys.map((k) => workers[rendezvousIndex(k, workers)]);
    const after = keys.map((k) => ['w1', 'w2', 'w4'][rendezvousIndex(k, ['w1', 'w2', 'w4'])]);
    keys.forEach((_, i) => {
      if (before[i] !== 'w3') expect(after[i]).toBe(before[i]);
    });
    const share = before.filter((w) => w === 'w3').length / keys.length;
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.32);
    expect(rendezvousIndex('k', [])).toBe(-1);
  });
});
