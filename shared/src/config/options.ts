import { hostname } from 'node:os';
import { BOUNDS_OPTIONS } from './bounds-options.js';
import { CONNECTION_OPTIONS, REDIS_TLS_OPTIONS } from './connection-options.js';
import { CONSOLE_OPTIONS } from './console-options.js';
import { CONTROLS_OPTIONS } from './controls-options.js';
import { DELIVERY_OPTIONS } from './delivery-options.js';
import { FLOW_OPTIONS } from './flow-options.js';
import { HANDLER_OPTIONS } from './handler-options.js';
import { INTAKE_OPTIONS } from './intake-options.js';
import { OUTBOUND_OPTIONS } from './outbound-options.js';
import { RELAY_OPTIONS } from './relay-options.js';
import { TIMING_OPTIONS } from './timing-options.js';

export type { OptionSpec } from './option-schemas.js';

/**
 * Every setting of every role, one entry each (env var, CLI flag, description, schema, default):
 * `loadConfig`, the CLI flags, `--help` and the docs' settings table are all derived from it. The
 * entries live by domain in `*-options.ts`; the order here is the order of the help and the docs.
 */
export const OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...DELIVERY_OPTIONS,
  ...INTAKE_OPTIONS,
  ...HANDLER_OPTIONS,
  ...CONTROLS_OPTIONS,
  ...OUTBOUND_OPTIONS,
  ...REDIS_TLS_OPTIONS,
  ...RELAY_OPTIONS,
  ...TIMING_OPTIONS,
  ...BOUNDS_OPTIONS,
  ...CONSOLE_OPTIONS,
  ...FLOW_OPTIONS,
} as const;

export type OptionKey = keyof typeof OPTIONS;

export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}
