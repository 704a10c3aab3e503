/** Small, dependency-free terminal formatting for the CLI (numbers, percentages, tables, a progress bar). */

export const int = (n: number | null | undefined) => (n == null ? '—' : Math.round(n).toLocaleString('en-US'));
export const pct = (x: number | null | undefined, digits = 1) => (x == null ? '—' : `${(x * 100).toFixed(digits)}%`);
export const num = (x: number | null | undefined, digits = 3) =>
  x == null || !Number.isFinite(x) ? '—' : x.toFixed(digits);

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, j) => (/^[-\d.,%±—]+$/.test(c) && j > 0 ? c.padStart(widths[j]) : c.padEnd(widths[j])))
      .join('  ')
      .trimEnd();
  return [line(cells[0]), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function progressBar(done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const n = Math.round(f * width);
  return `[${'█'.repeat(n)}${'░'.repeat(width - n)}] ${Math.round(f * 100)}%`;
}

export const isTty = () => Boolean(process.stdout.isTTY);

/** Exit codes the CLI uses, so scripts can tell failures apart. */
export const EXIT = { ok: 0, failed: 1, usage: 2, badInput: 3, notFound: 4, cancelled: 5, unavailable: 6 } as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where commands print their results (stdout); tests swap it to read what a command printed. */
export const output = { write: (s: string): void => void process.stdout.write(s) };
export const print = (s: string): void => output.write(s);
