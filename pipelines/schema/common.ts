import { z } from 'zod';

/**
 * Names that become folder names, table names or run ids. Strict on purpose: no `..`, no slashes, no shell
 * metacharacters, so a hostile pipeline file cannot escape the state folder or inject SQL through a name.
 */
export const safeName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 chars of a-z, 0-9, "_" or "-", starting with a letter or digit');

/**
 * A column name found in a user's source file. Source files have headers such as `Customer ID` or
 * `InvoiceNo`, so spaces and dots are allowed; quotes, semicolons and control characters are not. Columns are
 * always double-quoted when they reach SQL (see warehouse/sql.ts).
 */
export const columnName = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_ .\-/]*$/,
    'column names may hold letters, digits, space, "_", ".", "-" and "/" only',
  );

/**
 * Durations in the definition are written as `30d`, `12h`, `2w`, `90m`; at most 100 years, since a cutoff minus or
 * plus a longer one is no longer a representable date (and 10^23 days is not even an exact number of milliseconds).
 */
export const MAX_DURATION_MS = 36_525 * 86_400_000;
const DURATION = /^\d+(ms|s|m|h|d|w)$/;
export const duration = z
  .string()
  .regex(DURATION, 'write durations like "30d", "12h", "2w", "45m"')
  // zod runs refinements after a failed regex too: only a well-formed duration is measured.
  .refine((d) => !DURATION.test(d) || durationMs(d) <= MAX_DURATION_MS, 'at most 100 years (36525d)');

const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(d);
  if (!m) throw new Error(`invalid duration "${d}": write durations like "30d", "12h", "2w"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}
