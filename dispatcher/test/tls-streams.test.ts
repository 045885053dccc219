import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestPki, type RedisClusterHandle, startRedisCluster, type TestPki } from '@redispatch/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRun } from './helpers/checker.js';
import { CHECKER_HANDLER, type CliProcess, runCli, spawnCli } from './helpers/cli-process.js';
import { testEnv, uniquePrefix } from './helpers/in-process.js';

// Streams mode over TLS: a real 3-master Redis Cluster whose nodes serve TLS (bus included) with
// certificates openssl makes for this run. The seeds are the TLS ports; every other node is learned
// from CLUSTER SLOTS, which a TLS connection answers with TLS ports.
let dir = '';
let pki: TestPki;
let cluster: RedisClusterHandle;
const processes: CliProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redispatch-tls-cluster-'));
  pki = makeTestPki(dir, 'cluster');
  cluster = await startRedisCluster({
    masters: 3,
    tls: {
      certFile: pki.serverCert,
      keyFile: pki.serverKey,
      caFile: pki.caCert,
      clientCertFile: pki.clientCert,
      clientKeyFile: pki.clientKey,
    },
  });
}, 60_000);
afterAll(async () => {
  for (const proc of processes) proc.kill('SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited()));
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function tlsEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  const first = cluster.tlsSeeds.split(',')[0] as string;
  return {
    ...testEnv(`rediss://${first}`, prefix),
    REDISPATCH_MODE: 'streams',
    REDISPATCH_CLUSTER_NODES: cluster.tlsSeeds,
    ...extra,
  };
}

describe('streams mode on a Redis Cluster over TLS (rediss://, verification on)', () => {
  it('routes messages through every partition on the TLS ports, and warns about nothing', async () => {
    const checkDir = mkdtempSync(join(dir, 'check-'));
    const env = tlsEnv(uniquePrefix('tlsc'), { REDISPATCH_TLS_CA_FILE: pki.caCert, CHECK_DIR: checkDir });
    const dispatcher = spawnCli(['dispatcher'], env);
    const worker = spawnCli(['worker', '--handler', CHECKER_HANDLER], env);
    processes.push(dispatcher, worker);
    await Promise.all([
      dispatcher.waitForLog(/"msg":"elected leader"/, 20_000),
      worker.waitForLog(/worker registered/, 20_000),
    ]);
    const count = 600;
    const publish = await runCli(['publish', '--count', String(count), '--run-id', 'tlsc'], env);
    expect(publish.code, publish.output).toBe(0);
    await expect.poll(() => checkRun(checkDir, 'tlsc', count).lost, { timeout: 20_000 }).toBe(0);
    expect(checkRun(checkDir, 'tlsc', count).duplicates).toBe(0);

    const stats = await runCli(['stats', '--json'], env);
    expect(stats.code, stats.output).toBe(0);
    const doc = JSON.parse(stats.output) as {
      totals: { acked: number };
      partitions: { node: string; length: number }[];
    };
    expect(doc.totals.acked).toBe(count);
    // Each partition is served from a TLS port: the clients followed the topology over TLS.
    const tlsPorts = new Set(cluster.tlsSeeds.split(','));
    expect(doc.partitions).toHaveLength(6);
    for (const partition of doc.partitions) expect(tlsPorts.has(partition.node)).toBe(true);
    expect(new Set(doc.partitions.map((p) => p.node)).size).toBe(3);
    for (const proc of [dispatcher, worker]) expect(proc.output()).not.toMatch(/DISABLED/);
    dispatcher.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect((await dispatcher.exited()).code).toBe(0);
    expect((await worker.exited()).code).toBe(0);
  }, 60_000);

  it('refuses the cluster without the CA that signed it, in one line naming REDISPATCH_TLS_CA_FILE', async () => {
    const stats = await runCli(['stats'], tlsEnv(uniquePrefix('tlsc-noca')));
    expect(stats.code).toBe(1);
    expect(stats.lines).toHaveLength(1);
    expect(stats.lines[0]).toMatch(/^redispatch: REDISPATCH_CLUSTER_NODES: cannot connect to /);
    expect(stats.lines[0]).toContain('REDISPATCH_TLS_CA_FILE');
  }, 30_000);
});
