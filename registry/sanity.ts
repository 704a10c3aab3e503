/**
 * Sanity checks on a trained model before it may serve. The baselines (and a blend's parts) are trained on the same
 * split and measured on the same held-out users as the model, so when one of them does better on the primary metric
 * by more than the gate's tolerance, the model adds nothing over a simpler one: the run says so (summary, status,
 * report, --json) and the gate does not make it champion (a person can, with `models promote --reason`, recorded).
 * On a holdout with fewer than MIN_POSITIVES positives the AUCs are too noisy to overrule the gate (a few users
 * swing them by hundredths): the warning is given, says so, and does not refuse.
 */
import { higherIsBetter } from '../ml/metrics';

export interface SanityInput {
  engine: string;
  metric: string;
  tolerance: number;
  holdout: Record<string, number> | null;
  baselines: { engine: string; metrics: Record<string, number> | null }[];
  /** A blend's parts (the forest and the LSTM when not given). */
  parts?: string[];
}

/** Positives a holdout needs before a baseline's lead is trusted enough to refuse the model. */
export const MIN_POSITIVES = 100;

export interface SanityWarning {
  kind: 'baseline-beats-model' | 'auc-difference-within-noise' | 'label-rate-shift' | 'few-positives';
  /** Whether the gate refuses the model for it (false on a noisy holdout: fewer than MIN_POSITIVES positives). */
  refuses: boolean;
  /** The baseline (or blend part) that did better. */
  engine: string;
  metric: string;
  model: number;
  baseline: number;
  message: string;
}

const f3 = (x: number) => x.toFixed(3);

export function sanityWarnings(s: SanityInput): SanityWarning[] {
  const mine = s.holdout?.[s.metric];
  if (mine == null || !Number.isFinite(mine)) return [];
  const up = higherIsBetter(s.metric);
  const out: SanityWarning[] = [];
  for (const b of s.baselines) {
    const theirs = b.metrics?.[s.metric];
    if (theirs == null || !Number.isFinite(theirs) || b.engine === s.engine) continue;
    const better = up ? theirs - mine : mine - theirs;
    if (better <= s.tolerance) continue;
    const positives = s.holdout?.positives;
    const noisy = positives != null && positives < MIN_POSITIVES;
    const what =
      s.engine === 'blend' && (s.parts ?? ['forest', 'lstm']).includes(b.engine) ? 'its part' : 'its baseline';
    out.push({
      kind: 'baseline-beats-model',
      refuses: !noisy,
      engine: b.engine,
      metric: s.metric,
      model: mine,
      baseline: theirs,
      message:
        `${what} ${b.engine} beats the ${s.engine} model on the same held-out users: ${s.metric} ${f3(theirs)} vs ` +
        `${f3(mine)} (by ${f3(better)}, more than the tolerance ${s.tolerance})` +
        (noisy
          ? `; the holdout has only ${positives} positives (fewer than ${MIN_POSITIVES}), too noisy for the gate to refuse the model on it`
          : ''),
    });
  }
  return out;
}

/** The gate's answer to a model that failed its sanity checks: it stays a challenger (null: no objection). */
export function sanityRefusal(warnings: SanityWarning[]): string | null {
  const refusing = warnings.filter((w) => w.refuses);
  if (refusing.length === 0) return null;
  return (
    `not made champion: ${refusing.map((w) => w.message).join('; ')}. ` +
    `Promote it by hand with a reason if it should serve anyway (funnelcast models promote <version> --reason …)`
  );
}
