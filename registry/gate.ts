/**
 * The champion/challenger gate as a pure function. It has exactly three starting points, each with its own
 * message, because they mean different things to whoever reads the run summary:
 *
 *   - no champion yet                          → the new version becomes champion ('first');
 *   - a champion that cannot be compared on the new model's held-out rows (other features, a random holdout,
 *     another holdout fraction …)               → never replaced automatically ('incomparable'), unless the
 *                                                 definition or the operator allows it ('replaced');
 *   - a champion re-scored on the same rows    → 'promoted' when no worse by more than the tolerance, else
 *                                                 'challenger'.
 *
 * A run at a cutoff older than the live champion's, or any backfill run, is a backtest: the same comparison is
 * made and recorded, but the pointer never moves ('backtest').
 */
import { higherIsBetter } from '../ml/metrics';

export type Decision = 'first' | 'promoted' | 'challenger' | 'incomparable' | 'replaced' | 'backtest';

export interface GateDecision {
  decision: Decision;
  reason: string;
}

/** How the standing champion relates to the new model's held-out rows (computed by the caller, which can score). */
export type ChampionStanding =
  | { kind: 'none' }
  | { kind: 'same-rows'; version: string; value: number }
  | { kind: 'incomparable'; version: string; why: string; recordedValue?: number | null };

export interface GateInput {
  metric: string;
  challenger: number;
  champion: ChampionStanding;
  tolerance: number;
  /** Allows replacing a champion that cannot be compared (recorded in the champion history as a forced replacement). */
  replaceIncomparable?: boolean;
  /** Set when this version is a backtest: the decision is recorded, the pointer never moves. */
  backtest?: { why: string } | null;
  /** Why the model must not serve even if it wins (registry/sanity.ts: a baseline beats it); it stays a challenger. */
  refusal?: string | null;
}

const f4 = (x: number) => x.toFixed(4);

export function gate(g: GateInput): GateDecision {
  const won = liveGate(g);
  const live: GateDecision =
    g.refusal && movesPointer(won.decision)
      ? { decision: 'challenger', reason: `kept as challenger, ${g.refusal} (the gate alone: ${won.reason})` }
      : won;
  if (!g.backtest) return live;
  // A backtest never serves; its comparison is still worth keeping ("would it have won on that date?").
  return { decision: 'backtest', reason: `backtest (${g.backtest.why}), never serving; as a live run: ${live.reason}` };
}

function liveGate({ metric, challenger, champion, tolerance, replaceIncomparable }: GateInput): GateDecision {
  if (champion.kind === 'none')
    return { decision: 'first', reason: `no champion yet: becomes champion with ${metric} ${f4(challenger)}` };
  if (champion.kind === 'incomparable') {
    const recorded =
      champion.recordedValue != null && Number.isFinite(champion.recordedValue)
        ? ` (its recorded ${metric} ${f4(champion.recordedValue)} is from other rows)`
        : '';
    const what = `champion ${champion.version} is not comparable on these rows: ${champion.why}${recorded}`;
    return replaceIncomparable
      ? {
          decision: 'replaced',
          reason: `replaced: ${what}; replaced as allowed by replaceIncomparable, with ${metric} ${f4(challenger)}`,
        }
      : {
          decision: 'incomparable',
          reason:
            `kept the champion: ${what}. It is never replaced automatically: promote this version by hand ` +
            `(funnelcast models promote) or run with --replace-incomparable (or registry.replaceIncomparable)`,
        };
  }
  const up = higherIsBetter(metric);
  const delta = up ? challenger - champion.value : champion.value - challenger;
  const vs = `${metric} ${f4(challenger)} vs champion ${champion.version} ${f4(champion.value)} on the same validation rows, tolerance ${tolerance}`;
  return delta >= -tolerance
    ? { decision: 'promoted', reason: `promoted: ${vs}` }
    : { decision: 'challenger', reason: `kept as challenger: ${vs} (worse by ${f4(-delta)})` };
}

/** Decisions that move the champion pointer to the new version. */
export const movesPointer = (d: Decision) => d === 'first' || d === 'promoted' || d === 'replaced';
