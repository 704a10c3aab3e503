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

/** Edit distance (insertions, deletions, substitutions, adjacent swaps): how far a typo is from a known word. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i || j));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The known word a typo most likely meant (a prefix, or within a third of its length in edits), or null. */
export function closest(word: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = k.startsWith(word) && word.length >= 2 ? 0.5 : editDistance(word, k);
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : null;
}

/** The `--flags` a command's help text mentions (what "did you mean" picks from when a flag is unknown). */
export const flagsIn = (help: string): Set<string> => new Set(help.match(/--[a-z][a-z0-9-]*/g) ?? []);

/** What a command prints for `--help`, captured (the CLI asks for it only to suggest a flag). */
export async function helpOf(command: (argv: string[]) => Promise<number>): Promise<string> {
  const write = output.write;
  let text = '';
  output.write = (s: string) => void (text += s);
  try {
    await command(['--help']);
  } finally {
    output.write = write;
  }
  return text;
}

/**
 * Sets the exit code and exits once stdout and stderr have drained: `process.exit` right after a large write cuts
 * a piped stdout at the pipe's buffer (64 KiB), so a script reading `--json` through a pipe would get half an object.
 */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
