import type { CliProcess } from './cli-process.js';
import type { ProcessFixture } from './process-fixture.js';

export interface ConsoleHandle {
  proc: CliProcess;
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
}

/** Runs `redispatch console` on a free port and waits until it listens. */
export async function startConsole(fx: ProcessFixture, env: Record<string, string>): Promise<ConsoleHandle> {
  const proc = fx.spawn(['console', '--console-port', '0'], env);
  await proc.waitForLog(/console listening/, 20_000);
  const line = proc
    .output()
    .split('\n')
    .find((l) => l.includes('console listening'));
  const port = (JSON.parse(line ?? '{}') as { port?: number }).port;
  if (!port) throw new Error(`console printed no port: ${line}`);
  return { proc, url: `http://127.0.0.1:${port}` };
}

export interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown> & { error?: string };
}

/** One API call; POSTs send JSON (a string body is sent as-is). */
export async function call(
  base: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<Answer> {
  const post = options.body !== undefined;
  const res = await fetch(`${base}${path}`, {
    method: options.method ?? (post ? 'POST' : 'GET'),
    headers: {
      ...(post ? { 'content-type': 'application/json' } : {}),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(post ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  let json: Answer['json'];
  try {
    json = JSON.parse(text) as Answer['json'];
  } catch {
    json = { raw: text };
  }
  return { status: res.status, headers: res.headers, json };
}
