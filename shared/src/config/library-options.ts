import { ConfigError } from '../errors.js';
import { parseOption } from './load-config.js';
import { OPTIONS, type OptionKey } from './options.js';

/** A library value as the text the CLI would have read, or undefined for a shape the table does not spell (objects). */
function asRaw(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number'))
    return value.join(',');
  return undefined;
}

/**
 * Validates the options of a library class (`new Worker(…)`, `new Publisher(…)`, a Dispatcher's
 * config) with the same schemas as the CLI (options.ts), and throws one ConfigError listing every
 * problem, each naming the library option and its REDISPATCH_* variable:
 * `Worker option concurrency (REDISPATCH_CONCURRENCY) Too small: expected number to be >=1 (got "0")`.
 *
 * `aliases` maps a library option name to its setting where they differ (`id` → `instanceId`).
 * Options that are not settings (handler, logger, registry) are not looked at.
 */
export function validateLibraryOptions(
  owner: string,
  options: Readonly<Record<string, unknown>>,
  aliases: Readonly<Record<string, OptionKey>> = {},
): void {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    const key = aliases[name] ?? (Object.hasOwn(OPTIONS, name) ? (name as OptionKey) : undefined);
    if (key === undefined || value === undefined) continue;
    const raw = asRaw(value);
    if (raw === undefined) continue;
    const where = `${owner} option ${name} (${OPTIONS[key].env})`;
    const parsed = parseOption(key, raw);
    if (!parsed.ok) problems.push(`${where} ${parsed.problem}`);
    // `concurrency: '4'` passes the text schema but would run as a string: the type must match too.
    else if (typeof value !== 'object' && typeof parsed.value !== typeof value)
      problems.push(`${where} must be a ${typeof parsed.value} (got a ${typeof value})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
