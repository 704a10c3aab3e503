/**
 * noiseWarnings, the publish step's noise checks, on held-out predictions written as Parquet and a real local
 * registry (run inside MockActivityEnvironment like the publish activity that calls it): a holdout with few
 * positives is said to measure AUC loosely; a challenger whose AUC differs from the champion's within the DeLong
 * interval on the same users is said to be within noise, a clearly better one is not; a label rate that moved by
 * 1.5x or more since the champion's training cutoff is reported, a small move is not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { noiseWarnings } from '../../../activities/noise-checks';
import { MIN_POSITIVES } from '../../../registry/sanity';
import { openRegistry } from '../../../registry/open';
import { withDuckDB } from '../../../warehouse/db';
import { tempDir } from '../../helpers/warehouse';
import { env } from '../../helpers/tiny-pipeline';
import type { ChampionComparison, FeatureRef, TrainResult } from '../../../workflows/types';
import type { SanityWarning } from '../../../registry/sanity';

/** user_id, label, score for n users: `positives` of them labelled 1, the score from a SQL expression over i, label. */
async function predictions(dir: string, name: string, n: number, positives: number, score: string): Promise<string> {
  const file = join(dir, `${name}.parquet`);
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (SELECT 'u' || i AS user_id, label, ${score} AS score
                    FROM (SELECT i, CAST(i < ${positives} AS INTEGER) AS label FROM range(${n}) t(i)))
              TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

const trained = (predictionsPath: string | null) => ({ engine: 'forest', predictionsPath }) as TrainResult;
const featuresAt = (labelRate: number | null) => ({ labelRate }) as FeatureRef;
const kinds = (w: { kind: string }[]) => w.map((x) => x.kind);

/** A fresh home with a champion trained at 2024-02-01 on a label rate of 10%. */
async function withChampion(name: string) {
  process.env.FUNNELCAST_HOME = tempDir('fc-noise-home-');
  const dir = tempDir('fc-noise-');
  const model = join(dir, 'model.json');
  writeFileSync(model, '{}');
  const reg = await openRegistry(name);
  const r = await reg.publish({
    runId: `${name}-20240201T000000Z-aaaa`,
    files: [{ name: 'model.json', from: model }],
    info: {
      engine: 'forest',
      primaryMetric: 'roc_auc',
      metrics: { holdout: { roc_auc: 0.7 } },
      lineage: { cutoff: '2024-02-01T00:00:00.000Z', trainingCutoff: '2024-02-01T00:00:00.000Z', labelRate: 0.1 },
      params: {},
      featureNames: ['a'],
    },
    primaryValue: 0.7,
    cutoff: '2024-02-01T00:00:00.000Z',
    champion: { kind: 'none' },
    tolerance: 0.01,
  });
  return { reg, dir, version: r.version };
}

describe('noiseWarnings', () => {
  it('few positives on the holdout: said, not refused; enough: nothing', async () => {
    process.env.FUNNELCAST_HOME = tempDir('fc-noise-home-');
    const reg = await openRegistry('noise0');
    const dir = tempDir('fc-noise-');
    const noisy = await predictions(dir, 'few', 400, MIN_POSITIVES - 5, `CASE WHEN label = 1 THEN 0.6 ELSE 0.4 END`);
    const input = { comparison: null, features: featuresAt(0.05), trainingCutoff: '2024-03-01T00:00:00.000Z' };
    const few: SanityWarning[] = await env().run(noiseWarnings, reg, { ...input, trained: trained(noisy) });
    assert.deepEqual(kinds(few), ['few-positives']);
    assert.equal(few[0]!.refuses, false);
    const enough = await predictions(dir, 'many', 400, MIN_POSITIVES + 50, `(hash(i) % 100) / 100.0`);
    assert.deepEqual(await env().run(noiseWarnings, reg, { ...input, trained: trained(enough) }), []);
    assert.deepEqual(await env().run(noiseWarnings, reg, { ...input, trained: trained(null) }), []);
  });

  it('the same users: a difference within the DeLong interval is noise, a clear one is not', async () => {
    const { reg, dir, version } = await withChampion('noise1');
    // Scores that separate the classes loosely (AUC about 0.7), and the champion's: the same plus a little jitter.
    const mine = `CASE WHEN label = 1 THEN 0.3 ELSE 0.0 END + (hash(i) % 1000) / 1000.0`;
    const challenger = await predictions(dir, 'mine', 2000, 400, mine);
    const close = await predictions(dir, 'close', 2000, 400, `${mine} + (hash(i * 7) % 10) / 1000.0`);
    const random = await predictions(dir, 'random', 2000, 400, `(hash(i * 13) % 1000) / 1000.0`);
    const comparison = (p: string) =>
      ({
        version,
        sameRows: true,
        predictionsPath: p,
        metrics: {},
        metric: 'roc_auc',
      }) as unknown as ChampionComparison;
    const input = {
      trained: trained(challenger),
      features: featuresAt(0.11),
      trainingCutoff: '2024-03-01T00:00:00.000Z',
    };
    const within: SanityWarning[] = await env().run(noiseWarnings, reg, { ...input, comparison: comparison(close) });
    assert.deepEqual(kinds(within), ['auc-difference-within-noise']);
    assert.ok(JSON.stringify(within[0]).includes(version));
    assert.deepEqual(await env().run(noiseWarnings, reg, { ...input, comparison: comparison(random) }), []);
    // Not on the same rows: no DeLong comparison at all.
    const other = { ...comparison(close), sameRows: false };
    assert.deepEqual(await env().run(noiseWarnings, reg, { ...input, comparison: other }), []);
  });

  it('a label rate that moved 1.5x since the champion was trained is reported; a small move is not', async () => {
    const { reg } = await withChampion('noise2');
    const input = { comparison: null, trained: trained(null), trainingCutoff: '2024-03-01T00:00:00.000Z' };
    const moved: SanityWarning[] = await env().run(noiseWarnings, reg, { ...input, features: featuresAt(0.2) });
    assert.deepEqual(kinds(moved), ['label-rate-shift']);
    assert.ok(/2024-02-01/.test(JSON.stringify(moved[0])), JSON.stringify(moved[0]));
    assert.deepEqual(kinds(await env().run(noiseWarnings, reg, { ...input, features: featuresAt(0.06) })), [
      'label-rate-shift',
    ]);
    assert.deepEqual(await env().run(noiseWarnings, reg, { ...input, features: featuresAt(0.12) }), []);
    assert.deepEqual(await env().run(noiseWarnings, reg, { ...input, features: featuresAt(null) }), []);
  });
});
