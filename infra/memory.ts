/**
 * The memory budget of one process (FUNNELCAST_MEMORY): how much a step may hold in memory at once. Steps that
 * would need more (a feature table read into memory, a binned training matrix) refuse before they allocate, with
 * a message that names the setting and the size needed, instead of dying with "JavaScript heap out of memory".
 */
import os from 'node:os';

export const MEMORY_SETTING = 'FUNNELCAST_MEMORY';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** "4GiB", "512MB", "2g", "1000000" → bytes; null when it is not a size. */
export function parseBytes(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2].toLowerCase()];
  return unit === undefined ? null : Math.round(Number(m[1]) * unit);
}

/** A byte count for people: 1.5 GiB, 310 MiB. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${Math.ceil(n / 1024 ** 2)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}

/**
 * The budget in bytes: FUNNELCAST_MEMORY when set, else half the machine's memory up to 4 GiB (the whole run,
 * Temporal server and DuckDB included, is meant to fit in 4 GiB).
 */
export function memoryBudget(): number {
  const set = process.env[MEMORY_SETTING];
  if (set) {
    const n = parseBytes(set);
    if (n === null || n <= 0) throw new Error(`${MEMORY_SETTING}="${set}" is not a size (e.g. 4GiB, 512MB)`);
    return n;
  }
  return Math.min(4 * 1024 ** 3, Math.floor(os.totalmem() / 2));
}

export class MemoryBudgetError extends Error {
  constructor(message: string) {
    super(message);
    // Bad input for the run (too big for this budget): retrying the same step cannot help.
    this.name = 'InputError';
  }
}

/** Throws a MemoryBudgetError naming the setting when `needed` bytes for `what` exceed the budget. */
export function checkMemory(what: string, needed: number, hint = ''): void {
  const budget = memoryBudget();
  if (needed <= budget) return;
  throw new MemoryBudgetError(
    `${what} needs about ${formatBytes(needed)} in memory, more than the memory budget of ${formatBytes(budget)}: ` +
      `set ${MEMORY_SETTING} to at least ${formatBytes(needed)} (e.g. ${MEMORY_SETTING}=${Math.ceil(needed / 1024 ** 3)}GiB)` +
      (hint ? `, or ${hint}` : ''),
  );
}
