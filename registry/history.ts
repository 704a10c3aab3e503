/**
 * What the registry remembers about its decisions, beside the immutable version folders:
 *
 *   champion-history.jsonl   append-only: every move of the champion pointer (gate, promote, rollback, forced
 *                            replacement of an incomparable champion): when, which version, why, by whom;
 *   decisions/<version>.json the gate's decision for one version (live or backtest, promoted or not, why). Its
 *                            presence means "the pointer has been decided for this version": a retried publish
 *                            that finds a version without it runs the gate again instead of skipping it.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from './gate';
import type { PublishOptions } from './types';

export type VersionKind = 'live' | 'backtest';

/**
 * `accept-drift` is not a move: the champion stays, and the entry records that a run delivered its lists although
 * its scores drifted past the block threshold (`run --accept-drift` on the check before delivery, which runs after
 * the pointer was decided, so it cannot ride on the move itself as the feature drift note does).
 */
export type HistoryAction = 'gate' | 'promote' | 'rollback' | 'replace-incomparable' | 'accept-drift' | 'unknown';

export interface HistoryEntry {
  at: string;
  action: HistoryAction;
  version: string;
  /** The champion before this move (null for the first). */
  previous: string | null;
  /** The version's cutoff (when its lists were scored). */
  cutoff: string | null;
  metric: string;
  value: number;
  reason: string;
  /** The run id that moved it, or the person (user name) for promote/rollback. */
  by: string;
}

export interface DecisionRecord {
  version: string;
  kind: VersionKind;
  decision: Decision;
  reason: string;
  cutoff: string | null;
  metric: string;
  value: number;
  /** The champion when the gate ran, and its metric on the same rows when it was comparable. */
  champion: string | null;
  championValue: number | null;
  sameRows: boolean;
  decidedAt: string;
  by: string;
}

export const HISTORY_FILE = 'champion-history.jsonl';

export function appendHistory(root: string, e: HistoryEntry): void {
  appendFileSync(join(root, HISTORY_FILE), JSON.stringify(e) + '\n');
}

/**
 * The history, oldest first: the lines of champion-history.jsonl (the local folder's) and the entries under
 * history/ (one object per move: the registry in the artifact store, mirrored). Lines written before it recorded
 * actions (plain pointers) are read as 'unknown'.
 */
export function readHistory(root: string): HistoryEntry[] {
  const file = join(root, HISTORY_FILE);
  const lines = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l, i) => ({ text: l, where: `${file} line ${i + 1}` }))
        .filter((l) => l.text.trim())
    : [];
  const dir = join(root, 'history');
  const objects = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n.endsWith('.json'))
        .sort()
        .map((n) => ({ text: readFileSync(join(dir, n), 'utf8'), where: join(dir, n) }))
    : [];
  const entries = [...lines, ...objects].map((l) => historyEntry(l.text, l.where));
  return objects.length && lines.length ? entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at)) : entries;
}

function historyEntry(text: string, where: string): HistoryEntry {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${where} is not valid JSON (${(e as Error).message})`);
  }
  return {
    at: String(o.at ?? o.since ?? ''),
    action: (o.action as HistoryAction) ?? 'unknown',
    version: String(o.version),
    previous: (o.previous as string | null) ?? null,
    cutoff: (o.cutoff as string | null) ?? null,
    metric: String(o.metric ?? ''),
    value: Number(o.value),
    reason: String(o.reason ?? ''),
    by: String(o.by ?? 'unknown'),
  };
}

export const decisionPath = (version: string) => join('decisions', `${version}.json`);

/**
 * The champion `current` replaced when it was appointed: the `previous` of the latest move to it that was not a
 * rollback (a rollback to it says what it replaced last, not what came before it). Null when none is known.
 */
export function previousChampion(history: HistoryEntry[], current: string | null): string | null {
  const appointed = [...history]
    .reverse()
    .find((h) => h.version === current && h.action !== 'rollback' && h.action !== 'accept-drift');
  return appointed?.previous ?? null;
}

/** What publishing decided about a version, as both registries (local folder and object store) record it. */
export function decisionRecord(r: {
  version: string;
  kind: VersionKind;
  decision: DecisionRecord['decision'];
  reason: string;
  by: string;
  champion: string | null;
  opts: Pick<PublishOptions, 'champion' | 'cutoff' | 'info' | 'primaryValue'>;
}): DecisionRecord {
  const c = r.opts.champion;
  return {
    version: r.version,
    kind: r.kind,
    decision: r.decision,
    reason: r.reason,
    cutoff: r.opts.cutoff,
    metric: r.opts.info.primaryMetric,
    value: r.opts.primaryValue,
    champion: r.champion,
    championValue: c.kind === 'same-rows' ? c.value : null,
    sameRows: c.kind === 'same-rows',
    decidedAt: new Date().toISOString(),
    by: r.by,
  };
}

/**
 * The history entry for drift a run accepted before delivery (no pointer move: `previous` is the champion at the
 * time, `version` the version that scored the lists). Null when the history already holds it for this run, so a
 * retried activity records it once.
 */
export function acceptedDriftEntry(
  history: HistoryEntry[],
  r: { version: string; champion: string | null; reason: string; by: string; decision: DecisionRecord | null },
): HistoryEntry | null {
  if (history.some((h) => h.action === 'accept-drift' && h.by === r.by && h.version === r.version)) return null;
  return {
    at: new Date().toISOString(),
    action: 'accept-drift',
    version: r.version,
    previous: r.champion,
    cutoff: r.decision?.cutoff ?? null,
    metric: r.decision?.metric ?? '',
    value: r.decision?.value ?? NaN,
    reason: r.reason,
    by: r.by,
  };
}
