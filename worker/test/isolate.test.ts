// `redispatch worker --isolate` (issue 8): handlers run in child processes, so a handler that exits its
// process, is killed by a signal, allocates without bound or blocks its event loop loses only its child.
// Real processes: CLI dispatcher and worker, redis-server, the handler processes the worker forks.
import { randomBytes } from 'node:crypto';
import { Publisher } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../dispatcher/test/helpers/fault-cluster.js';

import {
  deadLetters,
  isolatedCluster,
  LAPSE_TTL_MS,
  recorded,
  useIsolateServer,
  watchHeartbeat,
} from './helpers/isolate-harness.js';

useIsolateServer();

describe('worker --isolate', () => {
  it('runs N messages through handler processes with 0 lost and 0 duplicates; every Message field arrives, bodies byte-exact', async () => {
    // A long ack timeout: no run can outlive it even on a starved box, so any duplicate would be a defect.
    const { cluster, worker } = await isolatedCluster('iso-clean', {
      REDISPATCH_ISOLATE_POOL: '2',
      REDISPATCH_ACK_TIMEOUT_MS: '30000',
      // 5 ms per run at 1,000/s keeps about five runs in hand: more than one process's share (2), so
      // the pool must use both (with instant runs the idle first process could take every one).
      CHECK_DELAY_MS: '5',
    });
    try {
      const count = 2_000;
      const publishing = cluster.publish('isoc', count, 1_000);
      // Binary bodies: plain ones (a text prefix, then every byte value) and envelope bodies that start
      // with 0xFE and carry a header.
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      const publisher = new Publisher({ redis: cluster.admin, channel });
      const sent = new Map<string, { id?: string }>();
      const startedAt = Date.now();
      for (let i = 0; i < 40; i++) {
        const random = randomBytes(64 + i * 97);
        if (i % 2 === 0) {
          const body = Buffer.concat([Buffer.from('FIELDS:'), Buffer.from([0, 255, 0xfe, 10, 13]), random]);
          await cluster.admin.publish(channel, body);
          sent.set(body.toString('hex'), {});
        } else {
          const body = Buffer.concat([Buffer.from([0xfe, 0x01, 0x00, 0]), random]);
          // The caller identity (extension record) reaches handler processes too.
          await publisher.publish(body, { id: `bin-${i}`, replyTo: 'fields', identity: `caller-${i}` });
          sent.set(body.toString('hex'), { id: `bin-${i}` });
        }
      }
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isoc', count);
      await cluster.waitIdle();
      await expect.poll(() => recorded(cluster.dir).length, { timeout: 10_000 }).toBe(sent.size);
      const fields = recorded(cluster.dir);
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBe(0);
      expect((await cluster.stats()).totals.redelivered).toBe(0);
      expect(new Set(fields.map((f) => f.hex))).toEqual(new Set(sent.keys()));
      expect(new Set(fields.map((f) => f.id)).size).toBe(sent.size);
      for (const f of fields) {
        expect(f.isBuffer).toBe(true);
        expect(f.attempt).toBe(1);
        expect(f.signal).toBe(true);
        expect(f.claimedAt).toBeGreaterThanOrEqual(startedAt - 1_000);
        expect(f.claimedAt).toBeLessThanOrEqual(Date.now());
        // Ran in a handler process of this worker, not in the worker itself.
        expect(f.ppid).toBe(worker.pid);
        expect(f.pid).not.toBe(worker.pid);
        const publisherId = sent.get(f.hex ?? '')?.id;
        if (publisherId) {
          const identity = `caller-${publisherId.slice('bin-'.length)}`;
          expect(f.header).toMatchObject({ id: publisherId, replyTo: 'fields', identity });
        } else expect(f.header).toBeNull();
      }
      // Both handler processes took part (each runs concurrency / 2 at once): each recorded checker
      // runs in its own file, and every Message-fields run came from one of those two processes.
      const checkerPids = [...result.perProcess]
        .filter(([file, handled]) => file.endsWith('.log') && handled > 0)
        .map(([file]) => Number(file.slice(0, -'.log'.length)));
      expect(checkerPids).toHaveLength(2);
      for (const f of fields) expect(checkerPids).toContain(f.pid);
      expect([...result.perProcess.values()].filter((n) => n > 0).length).toBe(2);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('a handler that exits its process (code 3) or dies of SIGSEGV: child replaced, message dead-lettered after max attempts with the reason, worker never lapses', async () => {
    const { cluster, worker, restarts, processes } = await isolatedCluster('iso-exit', {
      REDISPATCH_WORKER_TTL_MS: String(LAPSE_TTL_MS),
      REDISPATCH_MAX_ATTEMPTS: '3',
    });
    try {
      const heartbeat = watchHeartbeat(cluster);
      const count = 600;
      const publishing = cluster.publish('isoe', count, 300);
      await cluster.waitAccepted(100);
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      await cluster.admin.publish(channel, 'EXIT:poison');
      // SIGSEGV sent by the handler to its own process: the same death a segfaulting native addon
      // causes (no addon is built here, so no real invalid memory access happens).
      await cluster.admin.publish(channel, 'SEGV:poison');
      const letters = await deadLetters(cluster, 2);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isoe', count);
      const stats = await cluster.waitIdle();
      const beat = await heartbeat.stop();
      const exit = letters.find((l) => l.body.toString() === 'EXIT:poison');
      const segv = letters.find((l) => l.body.toString() === 'SEGV:poison');
      expect(letters.length).toBe(2);
      expect(exit?.reason).toBe('HandlerProcessError: handler process exited with code 3 (attempt 3 of 3)');
      expect(segv?.reason).toBe('HandlerProcessError: handler process killed by SIGSEGV (attempt 3 of 3)');
      expect(exit?.attempts).toBe(3);
      expect(segv?.attempts).toBe(3);
      expect(await restarts('exit')).toBe(3);
      expect(await restarts('signal')).toBe(3);
      await expect.poll(processes, { timeout: 10_000 }).toBe(4);
      // One message per handler process: a crash takes nothing else with it (a run that outlived its
      // ack deadline on a starved box runs again, at-least-once: the only duplicates allowed).
      const timedOut = await cluster.redelivered('timeout');
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBeLessThanOrEqual(timedOut);
      // The worker itself never stopped: never declared dead, heartbeats on time.
      expect(await cluster.redelivered('worker_lost')).toBe(0);
      expect(stats.totals.redelivered).toBe(timedOut);
      expect(stats.workers.map((w) => w.id)).toEqual([`${cluster.prefix}-w0`]);
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output()).not.toMatch(/re-registered/);
      expect(beat.samples).toBeGreaterThan(10);
      expect(beat.max).toBeLessThan(LAPSE_TTL_MS);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('a handler that allocates without bound: its process is killed at the memory limit and replaced, the message dead-lettered, others flow', async () => {
    const { cluster, worker, restarts, processes } = await isolatedCluster('iso-hog', {
      REDISPATCH_WORKER_TTL_MS: String(LAPSE_TTL_MS),
      REDISPATCH_MAX_ATTEMPTS: '2',
      REDISPATCH_ISOLATE_MAX_MEMORY_MB: '64',
      // The memory limit, not the ack deadline, must be what stops it, even on a loaded box.
      REDISPATCH_ACK_TIMEOUT_MS: '20000',
    });
    try {
      const heartbeat = watchHeartbeat(cluster);
      const count = 400;
      const publishing = cluster.publish('isoh', count, 200);
      await cluster.waitAccepted(50);
      await cluster.admin.publish(cluster.env.REDISPATCH_CHANNEL as string, 'HOG:poison');
      const [hog] = await deadLetters(cluster, 1);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isoh', count);
      const stats = await cluster.waitIdle();
      const beat = await heartbeat.stop();
      expect(hog?.body.toString()).toBe('HOG:poison');
      expect(hog?.reason).toMatch(
        /^HandlerProcessError: handler process exceeded its memory limit \((V8 heap 64 MB|resident \d+ MB > 192 MB)\) \(attempt 2 of 2\)$/,
      );
      expect(await restarts('memory')).toBe(2);
      await expect.poll(processes, { timeout: 10_000 }).toBe(4);
      // Ack timeout 20 s: no run outlives it, so no redelivery at all and no duplicate.
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBe(0);
      expect(stats.totals.redelivered).toBe(0);
      expect(await cluster.redelivered('worker_lost')).toBe(0);
      expect(worker.child.exitCode).toBeNull();
      expect(beat.max).toBeLessThan(LAPSE_TTL_MS);
    } finally {
      await cluster.close();
    }
  }, 90_000);

  it('a handler that blocks its event loop past the ack timeout: killed and replaced, the attempt counts, heartbeats and other messages carry on; a handler that honours its signal is not killed', async () => {
    const { cluster, worker, restarts, processes } = await isolatedCluster('iso-spin', {
      REDISPATCH_WORKER_TTL_MS: String(LAPSE_TTL_MS),
      REDISPATCH_MAX_ATTEMPTS: '2',
    });
    try {
      const heartbeat = watchHeartbeat(cluster);
      const count = 800;
      const publishing = cluster.publish('isos', count, 200);
      await cluster.waitAccepted(50);
      const channel = cluster.env.REDISPATCH_CHANNEL as string;
      await cluster.admin.publish(channel, 'SPIN:poison');
      await cluster.admin.publish(channel, 'ABORTWAIT:slow');
      const letters = await deadLetters(cluster, 2);
      expect((await publishing).code).toBe(0);
      const result = await cluster.waitHandled('isos', count);
      const stats = await cluster.waitIdle();
      const beat = await heartbeat.stop();
      expect(letters.map((l) => l.body.toString()).sort()).toEqual(['ABORTWAIT:slow', 'SPIN:poison']);
      for (const letter of letters) expect(letter.reason).toBe('ack timeout (attempt 2 of 2)');
      // Only the blocked loop was killed (once per attempt, a grace period after its deadline); the
      // cooperative handler saw its signal abort and was left alone.
      await expect.poll(() => restarts('timeout'), { timeout: 5_000 }).toBe(2);
      await sleep(1_500);
      expect(await restarts('timeout')).toBe(2);
      const aborted = recorded(cluster.dir).filter((r) => r.kind === 'aborted');
      expect(aborted.map((r) => [r.attempt, r.reason]).sort()).toEqual([
        [1, 'HandlerTimeoutError'],
        [2, 'HandlerTimeoutError'],
      ]);
      await expect.poll(processes, { timeout: 10_000 }).toBe(4);
      // The two slow messages' first attempts were redelivered at their deadline (on a starved box other
      // runs may outlive theirs too, and run again); the worker was never declared dead.
      const timedOut = await cluster.redelivered('timeout');
      expect(timedOut).toBeGreaterThanOrEqual(2);
      expect(await cluster.redelivered('worker_lost')).toBe(0);
      expect(stats.totals.redelivered).toBe(timedOut);
      expect(result.lost).toBe(0);
      expect(result.duplicates).toBeLessThanOrEqual(timedOut - 2);
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output()).not.toMatch(/re-registered/);
      expect(beat.max).toBeLessThan(LAPSE_TTL_MS);
    } finally {
      await cluster.close();
    }
  }, 90_000);
});
