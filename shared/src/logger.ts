import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * One root logger per process: JSON, one event per line, with fields that could carry a secret
 * redacted. Components take a child bound to `{ component }`.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: {
      paths: ['password', '*.password', 'url', '*.url', 'redisUrl', '*.redisUrl', 'lockUrls', '*.lockUrls'],
      censor: '***',
    },
  });
}
