/** The registry's records: a version's info, the champion pointer, what a publish is given and what it decides. */
import type { Decision, ChampionStanding, GateDecision } from './gate';
import type { VersionKind } from './history';
import type { SanityWarning } from './sanity';

export interface VersionInfo {
  version: string;
  runId: string;
  createdAt: string;
  engine: string;
  primaryMetric: string;
  metrics: Record<string, unknown>;
  lineage: Record<string, unknown>;
  params: unknown;
  featureNames: string[];
}

export interface ChampionPointer {
  version: string;
  metric: string;
  value: number;
  since: string;
  reason: string;
  /** The gate decision (or hand action) that put this version here. */
  decision?: Decision | 'promote' | 'rollback';
  /** The version's cutoff: the date its lists were scored at. */
  cutoff?: string | null;
  /**
   * The latest cutoff at which a live run or a person moved the pointer (kept across rollbacks): a run at an
   * older cutoff is a backtest and cannot move the pointer.
   */
  liveCutoff?: string | null;
  /** The run id, or the person, that moved it. */
  by?: string;
}

export interface PublishOptions {
  runId: string;
  files: { name: string; from: string }[];
  info: Omit<VersionInfo, 'version' | 'createdAt' | 'runId'>;
  primaryValue: number;
  /** The run's cutoff (the date its lists are scored at): a run older than the live champion's is a backtest. */
  cutoff: string;
  /** The standing champion against this model's held-out rows, computed by the caller (who can score). */
  champion: ChampionStanding;
  tolerance: number;
  /** A reason that makes this run a backtest whatever its cutoff (e.g. it was started by a backfill). */
  backtest?: string | null;
  /** Allow the gate to replace a champion that cannot be compared (recorded in the history). */
  replaceIncomparable?: boolean;
  /** The model's failed sanity checks (registry/sanity.ts): the gate then keeps it a challenger. */
  sanity?: SanityWarning[];
  /** Said with the pointer move in the champion history (e.g. the drift a run was told to accept). */
  note?: string | null;
  /** Who publishes: the run id unless told otherwise. */
  by?: string;
  /** Crash injection for tests: stop after writing the version, before moving the champion. */
  crashBeforeChampion?: boolean;
}

export type PublishOutcome = { version: string; versionDir: string; kind: VersionKind } & GateDecision & {
    champion: string | null;
  };

/** The later of two ISO dates (either may be missing). */
export const laterOf = (a: string | null | undefined, b: string | null | undefined) =>
  !a ? (b ?? null) : !b ? a : Date.parse(a) >= Date.parse(b) ? a : b;

/** The pointer a promotion writes (both registries): `before` gives the live frontier the new champion carries on. */
export function promotedPointer(
  version: string,
  info: { primaryMetric: string },
  value: number,
  cutoff: string | null,
  before: ChampionPointer | null,
  opts: { reason?: string; action?: ChampionPointer['decision']; by?: string },
): ChampionPointer {
  return {
    version,
    metric: info.primaryMetric,
    value,
    since: new Date().toISOString(),
    reason: opts.reason ?? 'promoted by hand',
    decision: opts.action ?? 'promote',
    cutoff,
    liveCutoff: laterOf(before?.liveCutoff ?? before?.cutoff, cutoff),
    by: opts.by ?? 'unknown',
  };
}
