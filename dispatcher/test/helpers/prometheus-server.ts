import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@redispatch/testing';

export interface PrometheusOptions {
  /** Scrape targets as `127.0.0.1:<port>`, one job. */
  targets: string[];
  /** Absolute paths of rule files. */
  ruleFiles?: string[];
  /** Scrape and rule evaluation interval. */
  interval?: string;
}

/** One element of a `/api/v1/query` vector result. */
export interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

export interface ActiveAlert {
  labels: Record<string, string>;
  state: string;
  activeAt: string;
}

export interface PrometheusHandle {
  readonly port: number;
  /** Instant query; resolves with the vector (throws on an API error, with Prometheus's message). */
  query(expr: string): Promise<VectorSample[]>;
  /** Pending and firing alerts. */
  alerts(): Promise<ActiveAlert[]>;
  /** The last few KB Prometheus logged, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

interface ApiAnswer<T> {
  status: string;
  data: T;
  error?: string;
}

/**
 * Starts the `prometheus` server (Debian's package; PROMETHEUS overrides the binary) on a free loopback
 * port with a throwaway TSDB and a generated config. Resolves once `/-/ready` answers.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redispatch-prometheus-'));
  const interval = options.interval ?? '1s';
  // JSON is YAML: no YAML writer needed.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'redispatch', static_configs: [{ targets: options.targets }] }],
  };
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const binary = process.env.PROMETHEUS ?? 'prometheus';
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-6_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const base = `http://127.0.0.1:${port}`;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null && !spawnError) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`cannot run ${binary} (${spawnError.message}): install Debian's "prometheus" package`);
    }
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode} at startup:\n${output}`);
    }
    const ready = await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus on 127.0.0.1:${port} not ready after 20 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
    const answer = (await response.json()) as ApiAnswer<T>;
    if (answer.status !== 'success')
      throw new Error(`prometheus ${path}: ${answer.error ?? response.status}`);
    return answer.data;
  }

  return {
    port,
    async query(expr) {
      const data = await api<{
        resultType: string;
        result: { metric: Record<string, string>; value: [number, string] }[];
      }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async alerts() {
      return (await api<{ alerts: ActiveAlert[] }>('/api/v1/alerts')).alerts;
    },
    logs: () => output,
    stop,
  };
}
