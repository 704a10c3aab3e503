import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { writeJsonAtomic } from '../infra/atomic';
import { quoteLiteral, withDuckDB } from '../warehouse/db';
import { readDoubles } from '../warehouse/matrix';
import { runInThread } from '../infra/threads';
import type { Curves, CurvesJob } from '../report/curves-thread';
import { writeRunReport } from '../report';
import { existsSync, readFileSync } from 'node:fs';
import type { FeatureRef, RunSummary, TrainResult } from '../workflows/types';
import type { SegmentsRef } from './segments';
import { RUN_FILE } from './runs';
import { keysOnThisMachine } from '../store';
import { clvOverview } from '../warehouse/clv';
import { campaignHistory } from '../lift/results';
import type { LiftReportData } from '../report/lift';
import type { DriftReportData } from '../report/drift';
import type { DriftCheck } from '../ml/drift';

/**
 * Writes the HTML report and run.json (last: its presence marks the run finished), and returns the final summary.
 */
export async function finishRun(input: FinishInput): Promise<RunSummary> {
  const s = input.summary;
  const reportPath = join(s.runDir, 'report.html');
  await writeRunReport(reportPath, await reportData(input));
  const seconds = (Date.now() - Date.parse(input.startedAt)) / 1000;
  const final: RunSummary = {
    ...s,
    reportPath,
    manifestPath: s.exports.length ? join(s.runDir, 'exports', 'manifest.json') : null,
    seconds,
  };
  // Keys, not this machine's paths: a run.json is read by other workers and by serve on other machines.
  writeJsonAtomic(join(s.runDir, RUN_FILE), keysOnThisMachine(final));
  return final;
}

interface FinishInput {
  loaded: LoadedPipeline;
  summary: RunSummary;
  trained: TrainResult;
  features: FeatureRef;
  marketer: SegmentsRef['marketer'] | null;
  startedAt: string;
}

type ReportData = Parameters<typeof writeRunReport>[1];

/** Everything the report shows, gathered from the summary and the files the run wrote. */
async function reportData(input: FinishInput): Promise<ReportData> {
  const s = input.summary;
  return {
    pipeline: s.pipeline,
    runId: s.runId,
    cutoff: s.cutoff,
    horizon: s.horizon,
    generatedAt: new Date().toISOString(),
    modelVersion: s.publish?.version ?? null,
    engine: s.model.engine,
    backend: s.model.backend,
    counts: {
      read: s.extract.read,
      loaded: s.extract.loaded,
      duplicates: s.extract.duplicates,
      quarantined: s.extract.quarantined,
      users: s.features.users,
      labelRate: s.features.labelRate,
      events: s.extract.events,
      filesSkipped: s.extract.filesSkipped,
    },
    metrics: {
      holdout: s.model.holdout,
      cv: s.model.cv,
      baselines: s.model.baselines,
      churn: s.model.churn,
      lstmTrainSequences: s.model.lstmTrainSequences,
      trainingSample: s.model.trainingSample ?? null,
      selection: s.model.selection,
      search: s.model.search,
    },
    curves: input.trained.predictionsPath ? await heldOutCurves(input.trained.predictionsPath) : null,
    importances: importancesOf(input.trained.modelPath),
    funnel: input.features.funnel,
    customerAttributes: input.features.customerAttributes ?? null,
    champion: await championReport(s),
    marketer: input.marketer,
    clv: await clvReport(s),
    webhook: s.webhook,
    lift: await liftReport(s),
    drift: driftReport(s),
    lineage: {
      pipeline: input.loaded.file,
      pipelineSha256: input.loaded.hash,
      cutoff: s.cutoff,
      horizon: s.horizon,
      warehouse: s.extract.database,
      modelVersion: s.publish?.versionDir ?? null,
    },
  };
}

/** Labels and scores of held-out users (a predictions Parquet), in user order. */
export async function labelsAndScores(path: string): Promise<[Float64Array, Float64Array]> {
  return withDuckDB(':memory:', async (conn) => {
    const sql = `SELECT coalesce(CAST(label AS DOUBLE), 'NaN'::DOUBLE), coalesce(CAST(score AS DOUBLE), 'NaN'::DOUBLE)
                 FROM read_parquet(${quoteLiteral(path)}) ORDER BY user_id`;
    const [y, p] = await readDoubles(conn, sql, 2);
    return [y, p];
  });
}

/** The held-out curves of a predictions Parquet, computed on a worker thread (report/curves-thread.ts). */
async function curvesOf(path: string, rocOnly = false): Promise<Curves> {
  const [y, p] = await labelsAndScores(path);
  return runInThread<Curves, CurvesJob>({
    file: join(__dirname, '..', 'report', 'curves-thread.js'),
    input: { y, p, rocOnly },
    transfer: [y.buffer as ArrayBuffer, p.buffer as ArrayBuffer],
  });
}

async function heldOutCurves(path: string): Promise<ReportData['curves']> {
  const c = await curvesOf(path);
  return { roc: c.roc, pr: c.pr!, lift: c.lift!, calibration: c.calibration! };
}

function importancesOf(modelPath: string): { name: string; importance: number }[] {
  const model = JSON.parse(readFileSync(modelPath, 'utf8')) as {
    payload: { importances?: number[] };
    featureNames: string[];
  };
  return (model.payload.importances ?? [])
    .map((v, j) => ({ name: model.featureNames[j], importance: v }))
    .sort((a, b) => b.importance - a.importance);
}

/** The gate's decision, with the standing champion's ROC on the same held-out users drawn over this model's. */
async function championReport(s: RunSummary): Promise<ReportData['champion']> {
  if (!s.publish) return null;
  const cmp = s.publish.comparison ?? null;
  const championRoc =
    cmp?.predictionsPath && existsSync(cmp.predictionsPath) ? (await curvesOf(cmp.predictionsPath, true)).roc : null;
  return {
    decision: s.publish.decision,
    reason: s.publish.reason,
    version: s.publish.champion,
    warnings: (s.publish.warnings ?? []).map((w) => w.message),
    f1: s.publish.f1 ?? null,
    comparison: cmp
      ? {
          version: cmp.version,
          metric: cmp.metric,
          tolerance: cmp.tolerance,
          sameRows: cmp.sameRows,
          why: cmp.why ?? null,
          metrics: cmp.metrics,
          roc: championRoc,
        }
      : null,
  };
}

async function clvReport(s: RunSummary): Promise<ReportData['clv']> {
  const clvPath = s.clv?.clvPath;
  if (!s.clv || !clvPath || !existsSync(clvPath)) return null;
  return { ref: s.clv, overview: await withDuckDB(':memory:', (conn) => clvOverview(conn, clvPath)) };
}

/** Every measured send of the pipeline so far (the warehouse's campaign_results) and this run's unmeasured ones. */
async function liftReport(s: RunSummary): Promise<LiftReportData | null> {
  const unmeasured = (s.measurement ?? [])
    .filter((m) => m.status !== 'measured')
    .map((m) => ({ runId: m.runId, campaign: m.campaign, reason: m.reason ?? m.status }));
  const db = s.extract.database;
  const measured = db && existsSync(db) ? await withDuckDB(db, (conn) => campaignHistory(conn)) : [];
  const backtests = s.exports.flatMap((e) =>
    e.backtest && e.realisedConversions != null
      ? [
          {
            campaign: e.campaign,
            rows: e.rows,
            expected: e.expectedConversions,
            realised: e.realisedConversions,
            backtest: e.backtest,
          },
        ]
      : [],
  );
  return measured.length || unmeasured.length || s.uplift || s.nextBestAction || backtests.length
    ? { measured, unmeasured, uplift: s.uplift, nextBestAction: s.nextBestAction, backtests }
    : null;
}

/**
 * The drift checks this run made, from the files they wrote in its folder (drift.json before publishing,
 * score-drift.json before delivery); a check that compared with nothing wrote none and is left out.
 */
function driftReport(s: RunSummary): DriftReportData | null {
  const read = <T>(name: string): T | null => {
    const f = join(s.runDir, name);
    return s.drift && existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as T) : null;
  };
  const f = read<{ champion: string | null; message: string; checks: DriftCheck[] }>('drift.json');
  const sc = read<{ against: { version: string; runId: string }; message: string; check: DriftCheck }>(
    'score-drift.json',
  );
  if (!f && !sc) return null;
  return {
    features: f ? { ...f, accepted: s.drift?.accepted === true } : null,
    score: sc
      ? {
          against: `${sc.against.version}, run ${sc.against.runId}`,
          message: sc.message,
          accepted: s.drift?.score?.accepted === true,
          check: sc.check,
        }
      : null,
  };
}
