/**
 * What every bench worker (redispatch bench handler, raw loop, BullMQ) records per run: how often
 * each seq was handled and, for scheduled payloads, handler latency (handler start - scheduled
 * publish time). BullMQ workers also record completion latency (see docs/performance.md, "publish → ack").
 */
import { encodeHistogram, type Histogram, newHistogram, record } from './hist.js';
import { type ParsedPayload, SeqCounter } from './payload.js';

/** Channel and key through which the redispatch bench handler hands over its records. */
export const CONTROL_CHANNEL = 'bench:control';
export const dumpKey = (runId: string): string => `bench:dump:${runId}`;

interface RunRecord {
  seqs: SeqCounter;
  handler: Histogram;
  done: Histogram;
  lastUs: number;
}

export interface RunDump {
  pid: number;
  handled: number;
  counts: string;
  handlerHist: string;
  doneHist: string;
  lastUs: number;
}

export class Recorder {
  private readonly runs = new Map<string, RunRecord>();

  private run(runId: string): RunRecord {
    let run = this.runs.get(runId);
    if (!run) {
      run = { seqs: new SeqCounter(), handler: newHistogram(), done: newHistogram(), lastUs: 0 };
      this.runs.set(runId, run);
    }
    return run;
  }

  /** A handler started on this message at `nowUs`. */
  handled(payload: ParsedPayload, nowUs: number): void {
    const run = this.run(payload.runId);
    run.seqs.add(payload.seq);
    run.lastUs = nowUs;
    if (!Number.isNaN(payload.scheduledUs)) record(run.handler, nowUs - payload.scheduledUs);
  }

  /** The message was settled (only where the worker can observe it: BullMQ 'completed'). */
  completed(payload: ParsedPayload, nowUs: number): void {
    if (!Number.isNaN(payload.scheduledUs)) record(this.run(payload.runId).done, nowUs - payload.scheduledUs);
  }

  /** Everything recorded for `runId`, then forgets it. */
  dump(runId: string): RunDump {
    const run = this.run(runId);
    this.runs.delete(runId);
    return {
      pid: process.pid,
      handled: run.seqs.handled,
      counts: run.seqs.encode(),
      handlerHist: encodeHistogram(run.handler),
      doneHist: encodeHistogram(run.done),
      lastUs: run.lastUs,
    };
  }
}
