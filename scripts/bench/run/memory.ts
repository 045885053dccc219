/** Scenario 5a: Redis memory per parked message, with no workers running. */
import { usedMemory } from '../lib/redis.js';
import type { MemoryResult, Report } from '../lib/report/results.js';
import { BullMQ } from '../lib/systems/bullmq.js';
import { RawLoop } from '../lib/systems/raw-loop.js';
import { Redispatch } from '../lib/systems/redispatch.js';
import type { SystemName } from '../lib/systems/system.js';
import { errorText, round, runId, sleep } from '../lib/util.js';
import { log, startOptions } from './context.js';
import { options } from './options.js';

export async function memoryPhase(report: Report): Promise<void> {
  const n = options.memoryCount;
  const systems: SystemName[] = options.memoryPeers
    ? ['redispatch', 'raw', 'bullmq', 'beequeue']
    : ['redispatch'];
  for (const name of systems) {
    log(`memory: ${name}, ${n} parked messages per payload size, no workers`);
    const tag = `mem-${name}`;
    const system =
      name === 'redispatch'
        ? await Redispatch.start(startOptions(tag, 0, { dispatchers: 1 }))
        : name === 'raw'
          ? await RawLoop.start(startOptions(tag, 1), false)
          : await BullMQ.start(startOptions(tag, 1), false, name === 'beequeue' ? 'beequeue' : 'bullmq');
    const admin = system.redis.admin;
    // Parked: accepted by the leader / stored by the raw leader / BullMQ or Bee-Queue waiting.
    const parked = async () =>
      name === 'redispatch'
        ? Number((await admin.hget('{rd}:totals', 'accepted')) ?? 0)
        : name === 'raw'
          ? await admin.hlen('raw:body')
          : name === 'beequeue'
            ? await admin.llen('bq:bench:waiting')
            : await admin.llen('bull:bench:wait');
    try {
      await sleep(200);
      for (const size of options.sizes) {
        const start = await parked();
        const before = await usedMemory(admin);
        await system.publishFull(runId('m'), n, size);
        await system.loadDone(120_000);
        const deadline = Date.now() + 60_000;
        while ((await parked()) < start + n && Date.now() < deadline) await sleep(20);
        await sleep(300);
        const after = await usedMemory(admin);
        const result: MemoryResult = {
          system: name,
          size,
          count: n,
          parked: (await parked()) - start,
          usedMemoryBefore: before,
          usedMemoryAfter: after,
          bytesPerMessage: round((after - before) / n, 1),
          overheadPerMessage: round((after - before) / n - size, 1),
        };
        report.memory.push(result);
        log(
          `  ${size} B: ${result.bytesPerMessage} B/msg (${result.overheadPerMessage} B over the payload), parked ${result.parked}`,
        );
      }
    } catch (error) {
      log(`  FAILED: ${errorText(error)}`);
      report.errors.push(`memory ${name}: ${errorText(error)}`);
    } finally {
      await system.stop();
    }
  }
}
