/**
 * Bench payloads: `<runId>:<seq>:<scheduledUs>:xxxx…` padded to the requested size. `scheduledUs`
 * is the CLOCK_MONOTONIC microsecond at which the publisher was *scheduled* to send the message
 * (not when it managed to), so a stalled publisher shows up as latency instead of hiding it
 * (coordinated omission). Full-speed runs have no schedule and use `<runId>:<seq>:xxxx…` (the
 * format of `redispatch publish`); `scheduledUs` then parses as absent.
 */

const COLON = 0x3a;

export function ratePayload(runId: string, seq: number, scheduledUs: number, size: number): string {
  const head = `${runId}:${seq}:${scheduledUs}:`;
  return head.length >= size ? head : head + 'x'.repeat(size - head.length);
}

/** A full-speed payload (no schedule): `<runId>:<seq>:xxxx…`, as `redispatch publish` sends. */
export function fullPayload(runId: string, seq: number, size: number): string {
  const head = `${runId}:${seq}:`;
  return head.length >= size ? head : head + 'x'.repeat(size - head.length);
}

export interface ParsedPayload {
  runId: string;
  seq: number;
  /** NaN when the payload carries no schedule. */
  scheduledUs: number;
}

/** Parses a payload from a Buffer (redispatch, raw loop) without decoding the padding. */
export function parsePayload(body: Buffer): ParsedPayload | null {
  const a = body.indexOf(COLON);
  if (a <= 0) return null;
  const b = body.indexOf(COLON, a + 1);
  if (b < 0) return null;
  const seq = Number(body.toString('latin1', a + 1, b));
  if (!Number.isInteger(seq)) return null;
  const c = body.indexOf(COLON, b + 1);
  const scheduledUs = c > b + 1 && c - b < 20 ? Number(body.toString('latin1', b + 1, c)) : Number.NaN;
  return { runId: body.toString('latin1', 0, a), seq, scheduledUs };
}

/** Same for a string (BullMQ job data). */
export function parsePayloadString(text: string): ParsedPayload | null {
  return parsePayload(Buffer.from(text.slice(0, 64), 'latin1'));
}

/**
 * Per-run delivery record of one process: how often each seq was handled (saturating at 255),
 * plus the handler-latency histogram. Merged across processes to count loss and duplicates.
 */
export class SeqCounter {
  counts = new Uint8Array(1024);
  handled = 0;

  add(seq: number): void {
    if (seq < 0) return;
    if (seq >= this.counts.length) {
      let size = this.counts.length;
      while (size <= seq) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.counts);
      this.counts = grown;
    }
    const current = this.counts[seq] as number;
    if (current < 255) this.counts[seq] = current + 1;
    this.handled += 1;
  }

  encode(): string {
    return Buffer.from(this.counts.buffer, this.counts.byteOffset, this.counts.length).toString('base64');
  }
}

export interface Delivery {
  /** Messages published (seq 0 .. published-1). */
  published: number;
  handled: number;
  /** Published seqs never handled. */
  lost: number;
  /** Extra handlings beyond the first. */
  duplicates: number;
  /** Up to 10 lost seqs, for the report. */
  lostSample: number[];
}

export function mergeDelivery(encoded: readonly string[], published: number): Delivery {
  const total = new Uint16Array(published);
  let handled = 0;
  for (const text of encoded) {
    const counts = Buffer.from(text, 'base64');
    for (let seq = 0; seq < counts.length; seq++) {
      const n = counts[seq] as number;
      if (n === 0) continue;
      handled += n;
      if (seq < published) total[seq] = (total[seq] as number) + n;
    }
  }
  let lost = 0;
  let duplicates = 0;
  const lostSample: number[] = [];
  for (let seq = 0; seq < published; seq++) {
    const n = total[seq] as number;
    if (n === 0) {
      lost += 1;
      if (lostSample.length < 10) lostSample.push(seq);
    } else duplicates += n - 1;
  }
  return { published, handled, lost, duplicates, lostSample };
}
