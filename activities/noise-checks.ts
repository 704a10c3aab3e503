/**
 * The publish step's noise checks (registry/noise.ts): is the challenger–champion AUC difference within its
 * DeLong interval on the same held-out users, and did the label rate move a lot since the champion was trained.
 */
import type { ModelRegistry } from '../registry';
import {
  delongDifference,
  delongInterval,
  fewPositivesWarning,
  labelRateWarning,
  withinNoiseWarning,
} from '../registry/noise';
import type { SanityWarning } from '../registry/sanity';
import { withDuckDB } from '../warehouse/db';
import type { ChampionComparison, FeatureRef, TrainResult } from '../workflows/types';

export async function noiseWarnings(
  registry: ModelRegistry,
  o: {
    comparison: ChampionComparison | null;
    trained: TrainResult;
    features: FeatureRef;
    trainingCutoff: string;
  },
): Promise<SanityWarning[]> {
  const out: SanityWarning[] = [];
  if (o.trained.predictionsPath) {
    const rows = await withDuckDB(':memory:', async (conn) =>
      (
        await conn.runAndReadAll(`SELECT label, score FROM read_parquet($a)`, { a: o.trained.predictionsPath! })
      ).getRows(),
    );
    const auc = delongInterval(
      Float64Array.from(rows, (r) => Number(r[0])),
      Float64Array.from(rows, (r) => Number(r[1])),
    );
    const w = fewPositivesWarning(auc, o.trained.engine);
    if (w) out.push(w);
  }
  const c = o.comparison;
  if (c?.sameRows && c.predictionsPath && o.trained.predictionsPath) {
    const rows = await withDuckDB(':memory:', async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT a.label, a.score, b.score FROM read_parquet($a) a JOIN read_parquet($b) b USING (user_id)`,
          { a: o.trained.predictionsPath!, b: c.predictionsPath! },
        )
      ).getRows(),
    );
    const w = withinNoiseWarning(
      delongDifference(
        Float64Array.from(rows, (r) => Number(r[0])),
        Float64Array.from(rows, (r) => Number(r[1])),
        Float64Array.from(rows, (r) => Number(r[2])),
      ),
      c.version,
    );
    if (w) out.push(w);
  }
  const champ = registry.champion();
  if (champ && o.features.labelRate != null) {
    const info = registry.info(champ.version);
    const lineage = info.lineage as { labelRate?: number; trainingCutoff?: string; holdoutRows?: number };
    const holdout = (info.metrics as { holdout?: { positives?: number } | null }).holdout;
    // Versions published before the label rate was recorded: their holdout's rate (a stratified split keeps it).
    const rate =
      lineage.labelRate ??
      (holdout?.positives != null && lineage.holdoutRows ? holdout.positives / lineage.holdoutRows : null);
    const w = labelRateWarning(
      { rate: o.features.labelRate, cutoff: o.trainingCutoff },
      { version: champ.version, rate, cutoff: lineage.trainingCutoff ?? null },
    );
    if (w) out.push(w);
  }
  return out;
}
