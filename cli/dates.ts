/**
 * Dates given on the command line. `new Date()` accepts far too much: `2024-02-30` becomes 1 March, `1` becomes the
 * year 2001. A cutoff must be a real calendar date written as ISO 8601 (a date, or a date and time with an optional
 * zone); anything else is a usage error (exit code 2) naming the option.
 */
import { UsageError } from './format';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The instant `value` names, as an ISO string, or a UsageError saying what is wrong with `--<option>`. */
export function parseDateOption(option: string, value: string): string {
  const m = ISO.exec(value.trim());
  const bad = (why: string) =>
    new UsageError(`--${option} "${value}" ${why} (write e.g. 2024-03-01 or 2024-03-01T00:00:00Z)`);
  if (!m) throw bad('is not an ISO date');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => (x === undefined ? 0 : Number(x)));
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) throw bad('is not a real calendar date');
  if (hour > 23 || minute > 59 || second > 59) throw bad('is not a real time of day');
  // A date alone is midnight UTC, like the pipelines' own cutoffs; a time without a zone is UTC too.
  const iso =
    m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : value.trim().replace(' ', 'T') + (m[7] ? '' : 'Z');
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw bad('is not an ISO date');
  return new Date(t).toISOString();
}
