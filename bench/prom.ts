/**
 * Reading the scoring service's Prometheus text in the serve bench: the server's own latency (from its request
 * histogram, so the time a request waited for the load generator or for a core before the server read it is not in
 * it), its garbage collection pauses and its event loop delay. Differences of two scrapes isolate one load phase.
 */

/** Every sample of a metric family: labels (as written) → value. */
export function samples(text: string, name: string): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^(\S+?)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push({ labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

/** Cumulative bucket counts (le → count) of a histogram, summed over the series whose labels contain `match`. */
export function buckets(text: string, name: string, match = ''): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples(text, `${name}_bucket`)) {
    if (!s.labels.includes(match)) continue;
    const le = /le="([^"]+)"/.exec(s.labels)![1];
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + s.value);
  }
  return out;
}

/** after − before, per bucket: the observations made between two scrapes. */
export function minus(after: Map<number, number>, before: Map<number, number>): Map<number, number> {
  return new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]));
}

/**
 * The q-quantile's bucket bound: the smallest `le` holding at least q of the observations (an upper bound of the
 * quantile, at the histogram's resolution). NaN without observations.
 */
export function quantileBound(b: Map<number, number>, q: number): number {
  const sorted = [...b].sort((x, y) => x[0] - y[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return NaN;
  return sorted.find(([, n]) => n >= q * total)![0];
}

/** Share of the observations above `bound` (which must be one of the buckets). */
export function shareAbove(b: Map<number, number>, bound: number): number {
  const total = Math.max(...b.values(), 0);
  return total ? (total - (b.get(bound) ?? 0)) / total : NaN;
}
