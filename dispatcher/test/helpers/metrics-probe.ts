import { spawnSync } from 'node:child_process';

/** One HTTP answer from a process's metrics server. */
export interface Probe {
  status: number;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

/** GET http://127.0.0.1:<port><path>; rejects when nothing answers (connection refused, timeout). */
export async function probe(port: number, path: string, timeoutMs = 3_000): Promise<Probe> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, body, json };
}

/** Like {@link probe}, but undefined instead of an error while nothing listens (for expect.poll). */
export async function tryProbe(port: number, path: string): Promise<Probe | undefined> {
  try {
    return await probe(port, path);
  } catch {
    return undefined;
  }
}

/** `/readyz` as `"<status> <state>"` (e.g. "200 leading"), or "down" when nothing answers: readable in polls. */
export async function readyz(port: number): Promise<string> {
  const answer = await tryProbe(port, '/readyz');
  return answer ? `${answer.status} ${String(answer.json?.state)}` : 'down';
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string | undefined;
  help: string | undefined;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition into families keyed by the name in `# TYPE` (histogram series folded in). */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let found = families.get(name);
    if (!found) {
      found = { name, type: undefined, help: undefined, samples: [] };
      families.set(name, found);
    }
    return found;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name = '', rest] = meta;
      if (kind === 'TYPE') family(name).type = rest;
      else family(name).help = rest;
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`unparsable exposition line: ${line}`);
    const [, name = '', rawLabels = '', value = ''] = match;
    const labels: Record<string, string> = {};
    for (const [, key = '', labelValue = ''] of rawLabels.matchAll(LABEL)) labels[key] = labelValue;
    const owner = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    family(owner).samples.push({ name, labels, value: Number(value) });
  }
  return families;
}

/** The value of the one sample of `name` (optionally matching `labels`), or undefined. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const owner = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  return owner?.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

/** GETs `/metrics` and parses it; the raw text is kept for promtool and failure messages. */
export async function scrape(port: number): Promise<{ text: string; families: Map<string, Family> }> {
  const answer = await probe(port, '/metrics');
  if (answer.status !== 200)
    throw new Error(`/metrics on port ${port} answered ${answer.status}: ${answer.body}`);
  return { text: answer.body, families: parseExposition(answer.body) };
}

export interface PromtoolVerdict {
  /** promtool's exit status: 0 clean, 3 lint problems, anything else a parse or usage error. */
  status: number | null;
  /** Every complaint line promtool printed. */
  complaints: string[];
  /** Complaints about metrics that are not prom-client's default process_* / nodejs_* metrics. */
  ours: string[];
  /** Complaints about prom-client's default metrics (e.g. nodejs_active_handles_total is a gauge). */
  defaults: string[];
}

/** True for prom-client's collectDefaultMetrics() families: third-party names the project does not own. */
export function isDefaultMetric(name: string): boolean {
  return /^(process|nodejs)_/.test(name);
}

/** Pipes exposition text into `promtool check metrics` and sorts its complaints by whose metric they are about. */
export function promtoolCheckMetrics(text: string): PromtoolVerdict {
  const result = spawnSync(process.env.PROMTOOL ?? 'promtool', ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (result.error) {
    throw new Error(
      `cannot run promtool (${result.error.message}): install Debian's "prometheus" package or set PROMTOOL`,
    );
  }
  const complaints = `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const defaults = complaints.filter((line) => isDefaultMetric(line.split(/\s/)[0] ?? ''));
  return {
    status: result.status,
    complaints,
    ours: complaints.filter((line) => !defaults.includes(line)),
    defaults,
  };
}
