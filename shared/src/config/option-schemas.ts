import { z } from 'zod';

/**
 * One row of the settings table. Each entry yields a REDISPATCH_* variable, a CLI flag and a row of
 * docs/configuration.md; `loadConfig` validates them all at once. Adding a setting means adding one entry to a table.
 */
export interface OptionSpec<T> {
  env: string;
  flag: string;
  description: string;
  schema: z.ZodType<T>;
  default: string | undefined;
  /**
   * The value may carry a secret (a password in a URL, a token): an error about it never echoes the
   * value, whatever the setting is called. Marked with `sensitive(...)` in the tables.
   */
  sensitive?: 'url' | 'secret';
}

/** Marks a setting whose value may carry a secret, so no message ever prints it (redact by schema). */
export function sensitive<S extends OptionSpec<unknown>>(
  kind: 'url' | 'secret',
  spec: S,
): S & { sensitive: 'url' | 'secret' } {
  return { ...spec, sensitive: kind };
}

export function option<T, D extends string | undefined = undefined>(
  env: string,
  flag: string,
  description: string,
  schema: z.ZodType<T, string>,
  defaultValue?: D,
): OptionSpec<T> & { default: D } {
  return { env: `REDISPATCH_${env}`, flag, description, schema, default: defaultValue as D };
}

/** A comma-separated setting as its trimmed, non-empty parts. */
export const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== ''),
);

export const intAtLeast = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A decimal such as `0.5` or `20`, within [min, max]. */
export const decimalAtLeast = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'expected a number such as 0.5 or 20')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

export const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(v), 'expected true or false')
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

export const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -');
