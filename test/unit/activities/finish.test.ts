/**
 * The finish activity as an adapter (MockActivityEnvironment, real DuckDB, local store) on a tiny pipeline run
 * through the real extract, features, train, publish and score activities: it writes the self-contained HTML report
 * of the run (metrics, funnel, the model version) and then run.json, the mark of a finished run, holding the summary
 * with store keys instead of this machine's paths, and returns the summary with the report's path and duration.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { finishRun, labelsAndScores } from '../../../activities/finish';
import { withDuckDB } from '../../../warehouse/db';
import { tempDir } from '../../helpers/warehouse';
import { findCompletedRuns, RUN_FILE } from '../../../activities/runs';
import { scoreUsers, type ScoreResult } from '../../../activities/score';
import {
  env,
  features,
  runDirOf,
  tinyPipeline,
  trainHoldout,
  publish as publishRun,
} from '../../helpers/tiny-pipeline';
import type { PublishResult, RunSummary } from '../../../workflows/types';

const CUTOFF = '2024-03-15T00:00:00.000Z';

describe('finishRun (activity)', () => {
  it('writes the report, then run.json with keys not paths, and returns the summary', async () => {
    const p = await tinyPipeline('finact');
    const runId = 'finact-20240315T000000Z-aaaa';
    const runDir = runDirOf(p, runId);
    const f = await features(p, runDir, CUTOFF);
    const trained = await trainHoldout(p, runDir, f);
    const publish: PublishResult = await publishRun(
      p,
      { runId, cutoff: CUTOFF, trainingCutoff: CUTOFF, runDir },
      f,
      trained,
    );
    const scored: ScoreResult = await env().run(scoreUsers, {
      loaded: p.loaded,
      runDir,
      features: f,
      versionDir: publish.scoreWith.versionDir,
      version: publish.scoreWith.version,
    });
    const summary: RunSummary = {
      runId,
      pipeline: 'finact',
      cutoff: CUTOFF,
      trainingCutoff: CUTOFF,
      horizon: '30d',
      runDir,
      extract: p.extract,
      features: {
        users: f.users,
        trainingUsers: f.users,
        labelled: f.labelled,
        labelRate: f.labelRate,
        positives: f.positives,
        featureCount: f.featureNames.length,
        featuresPath: f.featuresPath,
      },
      model: { engine: trained.engine, holdout: trained.metrics, cv: null, baselines: [], trainSeconds: 1 },
      publish,
      scoring: { scoresPath: scored.scoresPath, users: scored.users, modelVersion: scored.modelVersion },
      exports: [],
      segmentsPath: null,
      reportPath: null,
      manifestPath: null,
      seconds: 0,
    };
    const startedAt = new Date(Date.now() - 5_000).toISOString();
    assert.deepEqual(await env().run(findCompletedRuns, { pipeline: 'finact', runIds: [runId] }), {});
    const out: RunSummary = await env().run(finishRun, {
      loaded: p.loaded,
      summary,
      trained,
      features: f,
      marketer: null,
      startedAt,
    });
    assert.equal(out.reportPath, join(runDir, 'report.html'));
    assert.equal(out.manifestPath, null, 'no lists, no manifest');
    assert.ok(out.seconds >= 5 && out.seconds < 120, `${out.seconds}`);
    const html = readFileSync(out.reportPath!, 'utf8');
    assert.ok(html.startsWith('<!doctype html') || html.startsWith('<!DOCTYPE html'), html.slice(0, 40));
    assert.ok(html.includes(publish.version), 'names the model version');
    assert.ok(html.includes(runId));
    assert.ok(!/<script[^>]+src=|<link[^>]+href="http/i.test(html), 'self-contained: no external script or style');

    const file = join(runDir, RUN_FILE);
    assert.ok(existsSync(file));
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(p.home), 'run.json carries keys, never this machine’s home');
    const saved = JSON.parse(text) as RunSummary;
    assert.equal(saved.reportPath, `runs/finact/${runId}/report.html`);
    assert.equal(saved.publish!.versionDir, `registry/finact/versions/${publish.version}`);
    assert.equal(saved.features.users, f.users);
    // The finished run is now found as such.
    const done: Record<string, RunSummary> = await env().run(findCompletedRuns, {
      pipeline: 'finact',
      runIds: [runId],
    });
    assert.deepEqual(Object.keys(done), [runId]);
  });
});

describe('labelsAndScores (the held-out curves of the report)', () => {
  it('reads 3 M held-out rows in user order without holding the event loop', async () => {
    const file = join(tempDir('fc-finish-preds-'), 'predictions.parquet');
    await withDuckDB(':memory:', (conn) =>
      conn.run(`COPY (SELECT 'u' || lpad(CAST(i AS VARCHAR), 8, '0') AS user_id, CAST(i % 7 = 0 AS INTEGER) AS label,
                             (i % 1000) / 1000.0 AS score FROM range(3000000) t(i) ORDER BY hash(i))
                TO '${file}' (FORMAT parquet)`),
    );
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const [y, p] = await labelsAndScores(file);
    loop.disable();
    assert.equal(y.length, 3_000_000);
    for (const i of [0, 6, 7, 1234, 2_999_999]) {
      assert.equal(y[i], i % 7 === 0 ? 1 : 0);
      assert.equal(p[i], (i % 1000) / 1000);
    }
    // runAndReadAll + getColumns converted every value in one synchronous stretch (0.3–0.9 s at 643 k rows).
    assert.ok(loop.max / 1e6 < 300, `event loop blocked ${Math.round(loop.max / 1e6)} ms`);
  });
});
