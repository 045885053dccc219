import { z } from 'zod';
import { intAtLeast, option } from './option-schemas.js';

/** Where `redispatch console` serves its page and admin API, and the token its actions need (docs/console.md). */
export const CONSOLE_OPTIONS = {
  consolePort: option(
    'CONSOLE_PORT',
    '--console-port <port>',
    'Port `redispatch console` serves its page and admin API on (0 picks a free port)',
    intAtLeast(0, 65535),
    '9480',
  ),
  consoleHost: option(
    'CONSOLE_HOST',
    '--console-host <host>',
    'Address the console binds (only this host by default: the page shows message bodies)',
    z.string().trim().min(1, 'must not be empty'),
    '127.0.0.1',
  ),
  consoleToken: option(
    'CONSOLE_TOKEN',
    '--console-token <token>',
    'Bearer token every console action (replay, purge) needs; unset: the console is read-only',
    z
      .string()
      .min(16, 'must be at least 16 characters (e.g. `openssl rand -hex 24`)')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  ),
} as const;
