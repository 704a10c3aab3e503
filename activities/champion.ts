/**
 * The standing champion against a new model's held-out rows, for the gate and the report. "Same rows" is a
 * claim that must be true: both models are scored on these users and neither trained on them. It is checked,
 * not assumed: the new model's held-out users must be the hash holdout (train.ts falls back to a random split
 * when the hash holdout has one class only), the champion's held-out users must be its own hash holdout, and
 * the champion must have been trained on these very features. Otherwise the champion is "not comparable on
 * these rows", with the reason, and its recorded value (from other rows) is shown as such.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ChampionPointer, ModelRegistry } from '../registry';
import { withDuckDB } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { loadScorer } from '../ml/scorer';
import { readSequencesWithVocab } from '../ml/lstm';
import { evaluateBinary } from '../ml/metrics';
import { holdoutByUser } from '../ml/cv';
import { selectLabels, selectRows } from '../ml/classifier';
import { writeColumnsToParquet } from '../warehouse/parquet';
import type { ChampionComparison, FeatureRef, TrainResult } from '../workflows/types';
import type { LoadedPipeline } from '../pipelines/load';

const readIds = async (conn: DuckDBConnection, file: string) =>
  (await conn.runAndReadAll(`SELECT user_id FROM read_parquet($p)`, { p: file })).getRows().map((r) => String(r[0]));

/** True when every id is in the hash holdout of (fraction, seed): nobody among them was trained on. */
const allHeldOutByHash = (ids: string[], fraction: unknown, seed: unknown) =>
  typeof fraction === 'number' &&
  typeof seed === 'number' &&
  ids.length > 0 &&
  holdoutByUser(ids, fraction, seed).train.length === 0;

/** Why the champion cannot be compared on these held-out users, or null when it can. */
async function whyNotComparable(
  conn: DuckDBConnection,
  registry: ModelRegistry,
  champ: ChampionPointer,
  ids: string[],
  featureNames: string[],
  def: LoadedPipeline['definition'],
): Promise<string | null> {
  if (!allHeldOutByHash(ids, def.model.holdout, def.model.seed))
    return "this run's holdout fell back to a random split (the hash holdout had one class only), so the champion may have trained on these users";
  const dir = registry.versionDir(champ.version);
  const info = registry.info(champ.version);
  const params = (info.params ?? {}) as { holdout?: unknown; seed?: unknown };
  if (!allHeldOutByHash(ids, params.holdout, params.seed))
    return `the champion held out other users (holdout ${String(params.holdout)}, seed ${String(params.seed)}) and trained on some of these`;
  const own = join(dir, 'holdout-predictions.parquet');
  if (!existsSync(own)) return 'its own held-out users are not recorded, so it may have trained on these';
  if (!allHeldOutByHash(await readIds(conn, own), params.holdout, params.seed))
    return 'its own holdout was a random split, so it may have trained on these users';
  const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { featureNames?: string[] };
  const theirs = model.featureNames ?? [];
  if (theirs.length && theirs.join('\u0000') !== featureNames.join('\u0000'))
    return `it was trained on other features (${theirs.length} vs ${featureNames.length}; the pipeline changed)`;
  return null;
}

/**
 * Scores the champion on the new model's held-out users. Null when there is no champion.
 */
export async function compareWithChampion(
  registry: ModelRegistry,
  input: { loaded: LoadedPipeline; runDir: string; trained: TrainResult; features: FeatureRef },
): Promise<ChampionComparison | null> {
  const champ = registry.champion();
  if (!champ) return null;
  const def = input.loaded.definition;
  const metric = def.registry.primaryMetric;
  const base = { version: champ.version, metric, tolerance: def.registry.tolerance };
  const recorded = (why: string): ChampionComparison => ({
    ...base,
    sameRows: false,
    why,
    metrics: Number.isFinite(champ.value) ? { [metric]: champ.value } : {},
    predictionsPath: null,
  });
  if (!input.trained.predictionsPath) return recorded('this model has no held-out predictions to compare on');
  return withDuckDB(':memory:', async (conn) => {
    const table = await readFeatureTable(conn, input.features.featuresPath, { label: 'label', idColumn: 'user_id' });
    const holdout = new Set(await readIds(conn, input.trained.predictionsPath!));
    const idx = table.ids.flatMap((id, i) => (holdout.has(id) ? [i] : []));
    const ids = idx.map((i) => table.ids[i]);
    const why = await whyNotComparable(conn, registry, champ, ids, table.x.names, def);
    if (why) return recorded(why);
    try {
      const dir = registry.versionDir(champ.version);
      const model = await loadScorer(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
      const sequences = model.needsSequences
        ? await readSequencesWithVocab(conn, input.features.sequencesPath, input.features.vocabPath)
        : undefined;
      const p = model.predict({ x: selectRows(table.x, idx), ids, sequences });
      model.dispose();
      const y = selectLabels(table.y!, idx);
      const predictionsPath = join(input.runDir, 'models', `champion-${champ.version}.predictions.parquet`);
      await writeColumnsToParquet(conn, predictionsPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'label', type: 'INTEGER', values: y },
        { name: 'score', type: 'DOUBLE', values: p },
      ]);
      const metrics = Object.fromEntries(
        Object.entries(evaluateBinary(y, p)).filter(([, v]) => Number.isFinite(v)),
      ) as Record<string, number>;
      return { ...base, sameRows: true, metrics, predictionsPath };
    } catch (e) {
      return recorded(`it cannot score these rows (${(e as Error).message.split('\n')[0]})`);
    }
  });
}
