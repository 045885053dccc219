import { calculateSlot, type PartitionKeys } from '@redispatch/shared';
import type { Cluster } from 'ioredis';
import { missingRanges, missingSeqs, seqOf } from './checker.js';
import type { CliProcess } from './cli-process.js';

type Fields = (string | number)[];

/** `[name, value, name, value, …]` → a record (XINFO replies). */
function record(reply: unknown): Record<string, unknown> {
  const list = reply as Fields;
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

/** Entry ids compare as (ms, seq) pairs. */
function idAfter(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}

/**
 * What a failed streams run looks like from Redis: per partition the owning node, the stream's
 * length, the group's pending count and last-delivered id, each consumer's pending and idle time;
 * then where the never-handled messages of the run are (partition, entry id, delivered or not, in
 * whose pending list); then the warnings and errors the processes printed.
 */
export async function diagnoseStreams(
  admin: Cluster,
  partitions: readonly PartitionKeys[],
  group: string,
  run: { dir: string; runId: string; count: number },
  processes: readonly { name: string; proc: CliProcess }[],
): Promise<string> {
  const lines: string[] = [];
  const missing = new Set(missingSeqs(run.dir, run.runId, run.count));
  const found = new Map<number, string>();
  for (const p of partitions) {
    const owner = admin.slots[calculateSlot(p.stream)]?.[0] ?? '?';
    const length = await admin.xlen(p.stream);
    const groups = ((await admin.call('XINFO', 'GROUPS', p.stream).catch(() => [])) as unknown[]).map(record);
    const g = groups.find((candidate) => candidate.name === group);
    const lastDelivered = String(g?.['last-delivered-id'] ?? '0-0');
    const consumers = g
      ? ((await admin.call('XINFO', 'CONSUMERS', p.stream, group)) as unknown[])
          .map(record)
          .map((c) => `${c.name}:pending=${c.pending},idle=${c.idle}`)
      : [];
    const pendingIds = new Map<string, string>();
    if (g && Number(g.pending) > 0) {
      const pel = (await admin.xpending(p.stream, group, '-', '+', 10_000)) as [string, string][];
      for (const [entryId, consumer] of pel) pendingIds.set(entryId, consumer);
    }
    let undeliveredMissing = 0;
    let pendingMissing = 0;
    let settledMissing = 0;
    const entries = (await admin.xrangeBuffer(p.stream, '-', '+')) as [Buffer, Buffer[]][];
    for (const [rawId, fields] of entries) {
      const entryId = rawId.toString();
      const at = fields.findIndex((field, i) => i % 2 === 0 && field.toString() === 'p');
      const body = at >= 0 ? fields[at + 1] : undefined;
      const seq = body ? seqOf(body, run.runId) : undefined;
      if (seq === undefined || !missing.has(seq)) continue;
      let where: string;
      if (idAfter(entryId, lastDelivered)) {
        where = 'never delivered';
        undeliveredMissing += 1;
      } else if (pendingIds.has(entryId)) {
        where = `pending at ${pendingIds.get(entryId)}`;
        pendingMissing += 1;
      } else {
        where = 'delivered and acked';
        settledMissing += 1;
      }
      found.set(seq, `p${p.index} ${entryId} ${where}`);
    }
    lines.push(
      `partition ${p.index} on ${owner}: length ${length}, ` +
        (g
          ? `pending ${g.pending}, last-delivered ${lastDelivered}, lag ${g.lag}, consumers [${consumers.join(' ')}]`
          : 'NO GROUP') +
        `; missing here: ${undeliveredMissing} never delivered, ${pendingMissing} pending, ${settledMissing} acked`,
    );
  }
  const nowhere = [...missing].filter((seq) => !found.has(seq));
  lines.push(
    `${missing.size} missing: ${found.size} in a stream, ${nowhere.length} in none ` +
      `(first: ${nowhere.slice(0, 10).join(', ') || '-'})`,
  );
  lines.push(`missing ranges: ${missingRanges(run.dir, run.runId, run.count, 60)}`);
  for (const [seq, where] of [...found].slice(0, 10)) lines.push(`  seq ${seq}: ${where}`);
  for (const { name, proc } of processes) {
    const notable = proc
      .output()
      .split('\n')
      .filter((line) => /"level":(40|50|60)|elected|stepped|fenced|MOVED|ASK/.test(line));
    lines.push(`--- ${name} (pid ${proc.pid}, exit ${proc.child.exitCode}): ${notable.length} notable lines`);
    lines.push(...(notable.length <= 30 ? notable : [...notable.slice(0, 15), '  …', ...notable.slice(-15)]));
    lines.push('  last lines:', ...proc.output().trim().split('\n').slice(-4));
  }
  return lines.join('\n');
}
