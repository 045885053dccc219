import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A refusal with its HTTP status; the message is one line and becomes `{error}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Action bodies are a few ids or a reason: anything larger is refused before it is buffered. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Headers on every answer: nothing cached, nothing sniffed, never framed. */
const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof HttpError) {
    const headers = error.status === 401 ? { 'www-authenticate': 'Bearer realm="redispatch console"' } : {};
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    sendJson(res, error.status, { error: error.message });
    return;
  }
  // Redis or internal failures: one line, no stack (the console log has the rest).
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
  sendJson(res, 503, { error: `redis: ${message}` });
}

export function sendBytes(res: ServerResponse, contentType: string, body: Buffer, extra = {}): void {
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'content-type': contentType,
    'content-length': body.length,
    ...extra,
  });
  res.end(body);
}

export { COMMON_HEADERS };

/** The request body as JSON, refused past MAX_BODY_BYTES (413) or when it is not a JSON object (400). */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(415, 'expected Content-Type: application/json');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HttpError(400, 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/**
 * Every action needs `Authorization: Bearer <token>`: 403 when the console has no token (read-only),
 * 401 when the header is missing or wrong. Compared in constant time.
 */
export function requireToken(req: IncomingMessage, token: string | undefined): void {
  if (token === undefined)
    throw new HttpError(403, 'the console is read-only: REDISPATCH_CONSOLE_TOKEN is not set');
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match) throw new HttpError(401, 'this action needs Authorization: Bearer <REDISPATCH_CONSOLE_TOKEN>');
  const given = Buffer.from(match[1] ?? '');
  const wanted = Buffer.from(token);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted))
    throw new HttpError(401, 'wrong console token');
}

/** A whole number query parameter within bounds, or the default when absent. */
export function intParam(
  params: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw))
    throw new HttpError(400, `${name} must be a whole number (got "${raw.slice(0, 40)}")`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new HttpError(400, `${name} must be between ${min} and ${max} (got ${value})`);
  return value;
}
