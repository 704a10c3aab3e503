/**
 * The per-user values the feature expressions refer to (`r.*`, `s.*`, `fu.*`: warehouse/feature-expr.ts UserRef),
 * computed in memory for one user's events before T: the in-memory compilation of the RFM, session and funnel
 * tables whose SQL compilation is createRfmTable, createSessionsTable (warehouse/features.ts) and
 * buildFunnelStages (warehouse/funnel.ts). Their parameters (purchase event, session gap, funnel stages and window)
 * come from the one pipeline definition; the online tests hold both compilations to the same values.
 */
import type { UserEvents } from './feature-expr';
import { DAY_MS } from './cutoffs';

export interface UserEventsWithSessions extends UserEvents {
  session: (string | null)[];
}

export interface UserValueParams {
  purchase: string;
  sessionGapMs: number;
  funnel: string[];
  funnelWindowMs: number | null;
}

const US_PER_DAY = DAY_MS * 1000;
const epochMs = (us: number) => Math.trunc(us / 1000);

/**
 * RFM as createRfmTable: the user's purchase days (value = the day's revenue, NULL as 0), the days between the first
 * and the last, from the first to the day before T, and the mean value of the days after the first. No purchase: NULLs.
 */
export function rfmValues(ev: UserEvents, purchase: string, tMs: number) {
  const days = new Map<number, number>();
  for (let i = 0; i < ev.n; i++)
    if (ev.event[i] === purchase) {
      const d = Math.floor(ev.ts[i] / US_PER_DAY);
      days.set(d, (days.get(d) ?? 0) + (ev.revenue[i] ?? 0));
    }
  if (!days.size)
    return { purchase_days: null, recency_days: null, t_days: null, repeat_value: null } as Record<string, null>;
  const keys = [...days.keys()];
  const first = Math.min(...keys);
  const last = Math.max(...keys);
  const repeat = keys.filter((d) => d > first).map((d) => days.get(d)!);
  return {
    purchase_days: days.size,
    recency_days: last - first,
    // CAST(CAST($t AS TIMESTAMP) - INTERVAL 1 MICROSECOND AS DATE)
    t_days: Math.floor((tMs * 1000 - 1) / US_PER_DAY) - first,
    repeat_value: repeat.length ? repeat.reduce((a, b) => a + b, 0) / repeat.length : null,
  };
}

/**
 * Sessions as createSessionsTable: events in time order, a new session on the first event and after more than
 * `gapMs` without one; an event's session is its source id, else the running count of sessions (as text, so it
 * can meet a source id "3" as the SQL's count(DISTINCT) does).
 */
export function sessionCount(ev: UserEventsWithSessions, gapMs: number): number {
  const ids = new Set<string>();
  let running = 0;
  for (let i = 0; i < ev.n; i++) {
    if (i === 0 || epochMs(ev.ts[i]) - epochMs(ev.ts[i - 1]) > gapMs) running++;
    ids.add(ev.session[i] ?? String(running));
  }
  return ids.size;
}

/**
 * The furthest funnel stage reached in order, as buildFunnelStages: stage 1 by any stage-1 event; a stage-k event
 * counts when the latest stage-(k−1) reach strictly before it exists (and, with a window, is no more than that
 * window earlier). NULL when the user reached no stage.
 */
export function funnelStage(ev: UserEvents, stages: string[], windowMs: number | null): number | null {
  let reach: number[] = [];
  for (let i = 0; i < ev.n; i++) if (ev.event[i] === stages[0]) reach.push(ev.ts[i]);
  if (!reach.length) return null;
  let stage = 1;
  for (let k = 1; k < stages.length; k++) {
    const next: number[] = [];
    for (let i = 0; i < ev.n; i++) {
      if (ev.event[i] !== stages[k]) continue;
      let latest: number | null = null;
      for (const p of reach) if (p < ev.ts[i] && (latest === null || p > latest)) latest = p;
      if (latest !== null && (windowMs === null || epochMs(ev.ts[i]) - epochMs(latest) <= Math.floor(windowMs)))
        next.push(ev.ts[i]);
    }
    if (!next.length) break;
    stage = k + 1;
    reach = next;
  }
  return stage;
}
