/**
 * The drift activities as adapters (MockActivityEnvironment, real DuckDB, local registry) on a tiny pipeline whose
 * champion is published through the real extract, features, train and publish activities. checkDrift compares a
 * run's training table with the champion's (found through the champion's run): nothing to compare is "ok" with
 * the reason; the same table is ok and writes drift.json / drift.html; a shifted feature is reported as moved, by
 * name, with the champion's training cutoff. checkScoreDrift compares scores with the last delivered live run's
 * (never a backtest's); recordAcceptedDrift writes one accept-drift entry in the champion history per run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { checkDrift, checkScoreDrift, recordAcceptedDrift, type DriftResult } from '../../../activities/drift';
import { createActivities } from '../../../activities';
import { openRegistry } from '../../../registry/open';
import { withDuckDB } from '../../../warehouse/db';
import {
  env,
  features,
  runDirOf,
  tinyPipeline,
  trainHoldout,
  type TinyPipeline,
  publish,
} from '../../helpers/tiny-pipeline';
import type { PublishResult } from '../../../workflows/types';

const CUTOFF = '2024-03-15T00:00:00.000Z';
const TRAINING = '2024-02-14T00:00:00.000Z';

/** A published champion whose run kept its training table in training-features/, as the workflow does. */
async function championRun(p: TinyPipeline, runId: string) {
  const runDir = runDirOf(p, runId);
  const f = await features(p, runDir, TRAINING, 'training-features');
  const trained = await trainHoldout(p, runDir, f);
  const pub: PublishResult = await publish(p, { runId, cutoff: CUTOFF, trainingCutoff: TRAINING, runDir }, f, trained);
  return { runDir, f, pub };
}

/** A copy of a feature table with one column changed by a SQL expression over it. */
async function alter(from: string, to: string, column: string, expr: string): Promise<string> {
  mkdirSync(join(to, '..'), { recursive: true });
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (SELECT * REPLACE (${expr} AS ${column}) FROM read_parquet('${from}')) TO '${to}' (FORMAT parquet)`),
  );
  return to;
}

describe('checkDrift (activity)', () => {
  it('ok with the reason when there is nothing to compare; the same table ok; a shifted feature moved', async () => {
    const p = await tinyPipeline('driftact');
    const mine = 'driftact-20240415T000000Z-bbbb';
    const runDir = runDirOf(p, mine);
    mkdirSync(runDir, { recursive: true });
    const base = { loaded: p.loaded, runId: mine, runDir };

    const none: DriftResult = await env().run(checkDrift, { ...base, trainingFeaturesPath: '/nowhere.parquet' });
    assert.deepEqual(none, {
      level: 'ok',
      message: 'no champion to compare with',
      champion: null,
      reportPath: null,
      moved: [],
    });

    const champ = await championRun(p, 'driftact-20240315T000000Z-aaaa');
    const own: DriftResult = await env().run(checkDrift, {
      ...base,
      runId: 'driftact-20240315T000000Z-aaaa',
      trainingFeaturesPath: champ.f.featuresPath,
    });
    assert.match(own.message, /the champion is this run’s own model/);

    const same: DriftResult = await env().run(checkDrift, { ...base, trainingFeaturesPath: champ.f.featuresPath });
    assert.equal(same.level, 'ok', same.message);
    assert.equal(same.champion, champ.pub.version);
    assert.equal(same.championTrainingCutoff, TRAINING);
    assert.deepEqual(same.moved, []);
    assert.equal(same.reportPath, join(runDir, 'drift.html'));
    assert.equal(JSON.parse(readFileSync(join(runDir, 'drift.json'), 'utf8')).champion, champ.pub.version);

    const shifted = await alter(
      champ.f.featuresPath,
      join(runDir, 'training-features', 'features.parquet'),
      'n_events_total',
      'n_events_total * 10 + 100',
    );
    const moved: DriftResult = await env().run(checkDrift, { ...base, trainingFeaturesPath: shifted });
    assert.equal(moved.level, 'block', moved.message);
    assert.deepEqual(
      moved.moved.map((m) => [m.name, m.kind, m.level]),
      [['n_events_total', 'feature', 'block']],
    );
    assert.ok(moved.moved[0]!.value >= 0.25, `PSI ${moved.moved[0]!.value}`);
    assert.ok(readFileSync(moved.reportPath!, 'utf8').includes('n_events_total'));

    // The champion's training data is gone: not compared, and said so.
    rmSync(join(champ.runDir, 'training-features'), { recursive: true });
    const gone: DriftResult = await env().run(checkDrift, { ...base, trainingFeaturesPath: shifted });
    assert.equal(gone.level, 'ok');
    assert.match(gone.message, /training data .* is gone: not compared/);
    assert.equal(gone.champion, champ.pub.version);
  });
});

describe('checkDrift at size (activity, as registered)', () => {
  it('leaves the worker event loop free while it compares two 500 k-row training tables', async () => {
    const p = await tinyPipeline('bigfdrift');
    const runId = 'bigfdrift-20240415T000000Z-bbbb';
    mkdirSync(runDirOf(p, runId), { recursive: true });
    const champ = await championRun(p, 'bigfdrift-20240315T000000Z-aaaa');
    const small = join(p.home, 'small.parquet');
    await alter(champ.f.featuresPath, small, 'user_id', 'user_id');
    /** The small table's rows repeated to 500 k rows with distinct ids. */
    const grow = (to: string) =>
      withDuckDB(':memory:', (conn) =>
        conn.run(`COPY (SELECT t.* REPLACE (t.user_id || '-' || r.i AS user_id)
                        FROM read_parquet('${small}') t, range(CAST(ceil(5e5 / (SELECT count(*) FROM read_parquet('${small}'))) AS BIGINT)) r(i))
                  TO '${to}' (FORMAT parquet)`),
      );
    await grow(champ.f.featuresPath);
    const key = `runs/bigfdrift/${runId}/training-features/features.parquet`;
    mkdirSync(join(p.home, key, '..'), { recursive: true });
    await grow(join(p.home, key));
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const r: DriftResult = await env().run(createActivities().checkDrift, {
      loaded: p.loaded,
      runId,
      runDir: `runs/bigfdrift/${runId}`,
      trainingFeaturesPath: key,
    });
    loop.disable();
    assert.equal(r.level, 'ok', r.message);
    assert.equal(r.champion, champ.pub.version);
    // On the main thread the PSI of every column (a sort of each) held the loop for seconds; at 10 M, tens.
    assert.ok(loop.max / 1e6 < 300, `event loop blocked ${Math.round(loop.max / 1e6)} ms`);
  });
});

describe('checkScoreDrift and recordAcceptedDrift (activities)', () => {
  /** A finished run folder: run.json (cutoff, publish) and scores.parquet with `n` scores from the expression. */
  async function finished(p: TinyPipeline, id: string, cutoff: string, kind: string, scoreSql: string, n = 2000) {
    const dir = runDirOf(p, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'run.json'),
      JSON.stringify({ cutoff, publish: { kind, scoreWith: { version: `v-${id}` } } }),
    );
    await withDuckDB(':memory:', (conn) =>
      conn.run(
        `COPY (SELECT 'u' || i AS user_id, ${scoreSql} AS propensity FROM range(${n}) t(i)) TO '${join(dir, 'scores.parquet')}' (FORMAT parquet)`,
      ),
    );
    return join(dir, 'scores.parquet');
  }

  it('compares with the last delivered live run, never a backtest; a shifted distribution is moved', async () => {
    const p = await tinyPipeline('sdriftact', { users: 50 });
    const mine = 'sdriftact-20240415T000000Z-cccc';
    const runDir = runDirOf(p, mine);
    mkdirSync(runDir, { recursive: true });
    const uniform = '(hash(i) % 1000) / 1000.0';
    const scores = await finished(p, mine, '2024-04-15T00:00:00.000Z', 'live', uniform);
    rmSync(join(runDir, 'run.json')); // this run has not finished: never its own reference
    const base = { loaded: p.loaded, runId: mine, runDir, scoresPath: scores };
    const none: DriftResult = await env().run(checkScoreDrift, base);
    assert.equal(none.level, 'ok');
    assert.match(none.message, /no delivered lists/);

    await finished(p, 'sdriftact-20240301T000000Z-aaaa', '2024-03-01T00:00:00.000Z', 'live', uniform);
    // A later backtest with shifted scores: not what was delivered, so not the reference.
    await finished(p, 'sdriftact-20240401T000000Z-bbbb', '2024-04-01T00:00:00.000Z', 'backtest', `${uniform} / 10`);
    const same: DriftResult = await env().run(checkScoreDrift, base);
    assert.equal(same.level, 'ok', same.message);
    assert.equal(same.champion, 'v-sdriftact-20240301T000000Z-aaaa, run sdriftact-20240301T000000Z-aaaa');
    assert.equal(same.championTrainingCutoff, '2024-03-01T00:00:00.000Z');
    assert.ok(existsSync(join(runDir, 'score-drift.json')) && same.reportPath === join(runDir, 'score-drift.html'));

    const low = await finished(
      p,
      'sdriftact-20240415T000000Z-dddd',
      '2024-04-15T00:00:00.000Z',
      'x',
      `${uniform} / 10`,
    );
    rmSync(join(runDirOf(p, 'sdriftact-20240415T000000Z-dddd'), 'run.json'));
    const moved: DriftResult = await env().run(checkScoreDrift, { ...base, scoresPath: low });
    assert.equal(moved.level, 'block', moved.message);
    assert.equal(moved.moved.length, 1);
    assert.ok(moved.moved[0]!.value >= 0.25);
  });

  it('as registered, leaves the worker event loop free while it compares 2 × 2 M scores', async () => {
    const p = await tinyPipeline('bigdrift', { users: 50 });
    const uniform = '(hash(i) % 1000) / 1000.0';
    await finished(p, 'bigdrift-20240301T000000Z-aaaa', '2024-03-01T00:00:00.000Z', 'live', uniform, 2_000_000);
    const mine = 'bigdrift-20240415T000000Z-bbbb';
    const scores = await finished(p, mine, '2024-04-15T00:00:00.000Z', 'live', uniform, 2_000_000);
    rmSync(join(runDirOf(p, mine), 'run.json'));
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const r: DriftResult = await env().run(createActivities().checkScoreDrift, {
      loaded: p.loaded,
      runId: mine,
      runDir: `runs/bigdrift/${mine}`,
      scoresPath: `runs/bigdrift/${mine}/scores.parquet`,
    });
    loop.disable();
    assert.equal(r.level, 'ok', r.message);
    assert.ok(existsSync(scores));
    // On the main thread the two reads and the PSI held the loop for 2–5 s (a heartbeat and workflow tasks wait).
    assert.ok(loop.max / 1e6 < 300, `event loop blocked ${Math.round(loop.max / 1e6)} ms`);
  });

  it('recordAcceptedDrift: one accept-drift entry per run and version in the champion history', async () => {
    const p = await tinyPipeline('accdrift');
    const champ = await championRun(p, 'accdrift-20240315T000000Z-aaaa');
    const input = {
      loaded: p.loaded,
      runId: 'accdrift-20240415T000000Z-bbbb',
      version: champ.pub.version,
      note: 'PSI 0.4 accepted',
    };
    await env().run(recordAcceptedDrift, input);
    await env().run(recordAcceptedDrift, input); // a retry records nothing more
    const accepted = (await openRegistry('accdrift')).history().filter((h) => h.action === 'accept-drift');
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.version, champ.pub.version);
    assert.equal(accepted[0]!.by, input.runId);
    assert.equal(accepted[0]!.reason, 'PSI 0.4 accepted');
  });
});
