import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { openRegistry } from '../registry/open';
import { withDuckDB, quoteLiteral } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { dataDrift, driftMessage, scoreDrift, worstLevel, type DriftLevel } from '../ml/drift';
import { driftHtml } from '../report/drift';
import { failFastOnBadInput, heartbeat } from './context';

export interface DriftResult {
  level: DriftLevel;
  message: string;
  /** The champion compared with (null: none yet, or it is this run's own version). */
  champion: string | null;
  /** Where the champion was trained (its lineage), so the workflow can weigh drift by the time between the two. */
  championTrainingCutoff?: string | null;
  reportPath: string | null;
  /** What moved (warn or block), by how much: the payload carries these, never the columns. */
  moved: { name: string; kind: string; value: number; level: DriftLevel }[];
}

/**
 * Before publishing: this run's training table against the champion's (the run that published it), by the
 * definition's drift thresholds. Writes drift.json and drift.html (a chart per drifted feature) in the run folder.
 */
export async function checkDrift(input: {
  loaded: LoadedPipeline;
  runId: string;
  runDir: string;
  trainingFeaturesPath: string;
}): Promise<DriftResult> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const registry = await openRegistry(def.name);
    const champion = registry.champion()?.version ?? null;
    const none = (message: string): DriftResult => ({ level: 'ok', message, champion, reportPath: null, moved: [] });
    if (!champion) return none('no champion to compare with');
    const championRun = registry.info(champion).runId;
    if (championRun === input.runId) return none('the champion is this run’s own model');
    const refPath = join(paths.runDir(def.name, championRun), 'training-features', 'features.parquet');
    if (!existsSync(refPath)) return none(`the champion's training data (${refPath}) is gone: not compared`);
    const checks = await withDuckDB(':memory:', async (conn) => {
      const read = (f: string) => readFeatureTable(conn, f, { idColumn: 'user_id', exclude: ['label'] });
      const rate = async (f: string) =>
        Number((await conn.runAndReadAll(`SELECT avg(label) FROM read_parquet(${quoteLiteral(f)})`)).getRows()[0][0]);
      const [ref, cur] = [await read(refPath), await read(input.trainingFeaturesPath)];
      heartbeat({ read: ref.x.nRows + cur.x.nRows });
      const cols = (t: typeof ref) => Object.fromEntries(t.x.names.map((n, j) => [n, t.x.columns[j]]));
      return dataDrift(
        {
          reference: cols(ref),
          current: cols(cur),
          referenceLabelRate: await rate(refPath),
          currentLabelRate: await rate(input.trainingFeaturesPath),
          referenceRows: ref.x.nRows,
          currentRows: cur.x.nRows,
        },
        def.drift,
      );
    });
    const message = driftMessage(checks);
    writeFileSync(join(input.runDir, 'drift.json'), JSON.stringify({ champion, message, checks }, null, 2) + '\n');
    const reportPath = join(input.runDir, 'drift.html');
    writeFileSync(reportPath, driftHtml({ runId: input.runId, champion, message, checks }));
    const moved = checks
      .filter((c) => c.level !== 'ok')
      .map((c) => ({ name: c.name, kind: c.kind, value: c.value, level: c.level }));
    const championTrainingCutoff = (registry.info(champion).lineage.trainingCutoff as string | undefined) ?? null;
    return { level: worstLevel(checks), message, champion, championTrainingCutoff, reportPath, moved };
  });
}

/**
 * The scores of the last lists delivered for the pipeline: the latest finished live run (its run.json is written
 * when it finished, so a run whose delivery was blocked is never a reference) other than `runId`.
 */
function lastDelivered(
  pipeline: string,
  runId: string,
): { runId: string; version: string; cutoff: string; scores: string } | null {
  const root = paths.runDir(pipeline, '');
  if (!existsSync(root)) return null;
  const runs = readdirSync(root)
    .filter(
      (id) => id !== runId && existsSync(join(root, id, 'run.json')) && existsSync(join(root, id, 'scores.parquet')),
    )
    .map((id) => {
      const f = join(root, id, 'run.json');
      const run = JSON.parse(readFileSync(f, 'utf8')) as DeliveredRun;
      return { id, run, mtime: statSync(f).mtimeMs };
    })
    .filter(({ run }) => run.publish?.kind !== 'backtest' && run.publish?.scoreWith?.version)
    .sort((a, b) => Date.parse(b.run.cutoff) - Date.parse(a.run.cutoff) || b.mtime - a.mtime);
  const last = runs[0];
  return last
    ? {
        runId: last.id,
        version: last.run.publish!.scoreWith!.version,
        cutoff: last.run.cutoff,
        scores: join(root, last.id, 'scores.parquet'),
      }
    : null;
}

interface DeliveredRun {
  cutoff: string;
  publish?: { kind?: string; scoreWith?: { version: string } };
}

/**
 * Before delivery: the distribution of this run's scores against the scores of the last lists delivered (the
 * latest finished live run), by the definition's score thresholds. Retrying a blocked run compares with the same
 * lists again, since a blocked run never finishes. Writes score-drift.json and score-drift.html (the chart of both
 * distributions) in the run folder.
 */
export async function checkScoreDrift(input: {
  loaded: LoadedPipeline;
  runId: string;
  runDir: string;
  scoresPath: string;
}): Promise<DriftResult> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const ref = lastDelivered(def.name, input.runId);
    const champion = ref?.version ?? null;
    const none = (message: string): DriftResult => ({ level: 'ok', message, champion, reportPath: null, moved: [] });
    if (!ref) return none('no delivered lists to compare the scores with');
    const check = await withDuckDB(':memory:', async (conn) => {
      const read = async (f: string) =>
        Float64Array.from(
          (await conn.runAndReadAll(`SELECT propensity FROM read_parquet(${quoteLiteral(f)})`)).getColumns()[0],
          (v) => (v == null ? NaN : Number(v)),
        );
      return scoreDrift(await read(ref.scores), await read(input.scoresPath), def.drift);
    });
    const message = driftMessage([check]);
    const against = `${ref.version}, run ${ref.runId}`;
    writeFileSync(
      join(input.runDir, 'score-drift.json'),
      JSON.stringify({ against: ref, message, check }, null, 2) + '\n',
    );
    const reportPath = join(input.runDir, 'score-drift.html');
    writeFileSync(reportPath, driftHtml({ runId: input.runId, champion: against, message, checks: [check] }));
    const moved =
      check.level === 'ok' ? [] : [{ name: check.name, kind: check.kind, value: check.value, level: check.level }];
    // The reference's cutoff: the gate treats lists scored more than one horizon apart as elapsed time.
    return { level: check.level, message, champion: against, championTrainingCutoff: ref.cutoff, reportPath, moved };
  });
}

/**
 * A run told to accept drift (`run --accept-drift`) that the check before delivery would have blocked: the champion
 * history records it (action accept-drift, by the run, with the PSI), as a publish records accepted feature drift.
 */
export async function recordAcceptedDrift(input: {
  loaded: LoadedPipeline;
  runId: string;
  /** The version that scored the delivered lists. */
  version: string;
  note: string;
}): Promise<void> {
  const registry = await openRegistry(input.loaded.definition.name);
  await registry.recordAcceptedDrift({ version: input.version, reason: input.note, by: input.runId });
}
