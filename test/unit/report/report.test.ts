import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, lineChart, renderRunReport, writeRunReport, type RunReportData } from '../../../report';
import {
  aggregateCalibration,
  aggregateLift,
  calibrationBins,
  evaluateBinary,
  liftByDecile,
  prCurve,
  rocCurve,
} from '../../../ml/metrics';
import { tempDir } from '../../helpers/warehouse';
import { DEFAULT_DRIFT, dataDrift, driftMessage, scoreDrift } from '../../../ml/drift';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

function sample(): RunReportData {
  const y = Array.from({ length: 400 }, (_, i) => (i % 7 === 0 ? 1 : 0));
  const p = y.map((v, i) => Math.min(0.99, (v ? 0.5 : 0.1) + ((i * 37) % 100) / 250));
  return {
    pipeline: '<script>alert("x")</script>',
    runId: 'sample-20240430T000000Z',
    cutoff: '2024-04-30T00:00:00.000Z',
    horizon: '30d',
    generatedAt: '2024-05-01T00:00:00.000Z',
    modelVersion: 'v0001-sample',
    engine: 'forest',
    counts: { read: 100, loaded: 90, duplicates: 5, quarantined: 5, users: 50, labelRate: 0.1 },
    metrics: {
      holdout: { roc_auc: 0.8, pr_auc: 0.4, log_loss: 0.3 },
      cv: {
        mean: { roc_auc: 0.79 },
        std: { roc_auc: 0.01 },
        folds: [{ roc_auc: 0.78 }, { roc_auc: 0.8 }],
        lift: aggregateLift([
          liftByDecile(y, p),
          liftByDecile(
            y,
            p.map((v) => v * 0.9),
          ),
        ]),
        calibration: aggregateCalibration([
          calibrationBins(y, p),
          calibrationBins(
            y,
            p.map((v) => v * 0.9),
          ),
        ]),
      },
      baselines: [{ engine: 'logistic', metrics: { roc_auc: 0.75 } }],
    },
    curves: { roc: rocCurve(y, p), pr: prCurve(y, p), lift: liftByDecile(y, p), calibration: calibrationBins(y, p) },
    importances: [
      { name: 'recency', importance: 0.4 },
      { name: 'frequency', importance: 0.2 },
    ],
    funnel: [
      { stage: 'view', users: 50, fromPrevious: null },
      { stage: 'cart', users: 10, fromPrevious: 0.2 },
    ],
    champion: {
      decision: 'promoted',
      reason: 'promoted: roc_auc 0.8 vs 0.79',
      version: 'v0002-sample',
      comparison: {
        version: 'v0001-sample',
        metric: 'roc_auc',
        tolerance: 0.01,
        sameRows: true,
        metrics: { roc_auc: 0.79, pr_auc: 0.35, log_loss: 0.32 },
        roc: rocCurve(
          y,
          p.map((v, i) => (i % 3 ? v : 1 - v)),
        ),
      },
    },
    marketer: {
      segmentSizes: { rfm: { Champions: 5, Lost: 45 } },
      campaigns: [{ name: 'win_back', action: 'email <b>now</b>', rows: 12, expectedConversions: 3.2 }],
      sampleRows: [{ user_id: 'u1', propensity: 0.9 }],
    },
    lineage: { pipeline: '/x/sample.json' },
  };
}

describe('run report', () => {
  it('draws charts with coordinates inside the plot', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ x: [0, 0.5, 1], y: [0, 0.7, 1], color: '#000', name: 's' }],
    });
    const d = /<path d="(M[^"]+)" fill="none"/.exec(svg)![1];
    const nums = d.match(/-?\d+(\.\d+)?/g)!.map(Number);
    assert.ok(nums.length === 6 && nums.every((v) => v >= 0 && v <= 360));
    assert.match(
      barChart('b', [
        { label: 'a', value: 2 },
        { label: 'b', value: 1 },
      ]),
      /<path d="M170,8 h\d/,
    );
  });

  it('compares with the previous champion and shows lift and calibration over the CV folds', () => {
    const html = renderRunReport(sample());
    const champion = html.slice(html.indexOf('<h2>Champion / challenger</h2>'), html.indexOf('<h2>Model quality</h2>'));
    assert.match(champion, /previous champion <code>v0001-sample<\/code> on the same held-out users/);
    // metric, this model, champion, difference: roc_auc 0.8 vs 0.79 → +0.010
    assert.match(champion, /<td>roc_auc<\/td><td>0\.800<\/td><td>0\.790<\/td><td>0\.010<\/td>/);
    assert.match(champion, /<td>log_loss<\/td><td>0\.300<\/td><td>0\.320<\/td><td>-0\.020<\/td>/);
    assert.match(html, /champion v0001-sample \(AUC 0\.790\)/, 'champion ROC drawn over this model');
    assert.match(html, /Lift by decile over 2 CV folds \(mean ± std\)/);
    // The chart states how calibrated the published probabilities are: holdout and pooled out-of-fold ECE.
    const cal = sample().metrics.cv!.calibration!;
    const users = cal.reduce((a, b) => a + b.count, 0);
    const ece = cal.reduce((a, b) => a + b.count * Math.abs(b.meanPredicted - b.fractionPositive), 0) / users;
    assert.ok(ece > 0.01, 'the sample is not calibrated: a real number to show');
    assert.match(html, new RegExp(`CV folds pooled \\(ECE ${ece.toFixed(3)}\\)`));
    assert.match(html, /holdout \(plug-in ECE —, debiased —, Σp ÷ positives —\)/, 'no ECE in the metrics: a dash');
    assert.match(
      html,
      /<p class="note">Holdout: plug-in ECE —, Σp ÷ positives —\.<\/p>/,
      'older runs: no debiased error',
    );
    // The caption says which measure the target is read on, and the range chance alone allows around Σp.
    const y = Array.from({ length: 400 }, (_, i) => (i % 7 === 0 ? 1 : 0));
    const p = y.map((v, i) => Math.min(0.99, (v ? 0.5 : 0.1) + ((i * 37) % 100) / 250));
    const m = evaluateBinary(y, p);
    const withCal = renderRunReport({
      ...sample(),
      metrics: { ...sample().metrics, holdout: m as unknown as Record<string, number> },
    });
    const f = (x: number) => x.toFixed(3);
    assert.match(
      withCal,
      new RegExp(
        `<p class="note">Holdout \\(400 users\\): debiased calibration error ${f(m.ece_debiased)} \\(Kumar et al\\. 2019; ` +
          `the ≤ 0\\.02 target is read on it\\), plug-in ECE ${f(m.ece)} \\(includes sampling noise\\); ` +
          `Σp ÷ positives ${f(m.predicted_to_observed)}, where chance alone would give ` +
          `${f(m.predicted_to_observed_low)}–${f(m.predicted_to_observed_high)} \\(90 %\\) for a calibrated model\\.</p>`,
      ),
    );
    const first = renderRunReport({
      ...sample(),
      champion: { decision: 'first', reason: 'first model', version: 'v1' },
    });
    assert.match(first, /No earlier champion/);
  });

  it('shows the funnel as step conversions with the median time between steps, and says when attributes are static', () => {
    const html = renderRunReport({
      ...sample(),
      funnel: [
        { stage: 'view', users: 507, fromPrevious: null, medianHoursFromPrevious: null },
        { stage: 'cart', users: 322, fromPrevious: 322 / 507, medianHoursFromPrevious: 5.25 },
        { stage: 'buy', users: 100, fromPrevious: 100 / 322, medianHoursFromPrevious: 60 },
      ],
      customerAttributes: 'static',
    });
    assert.match(html, /users reaching each stage after the previous one/);
    assert.match(html, /322 \(63\.5% of previous, median 5\.3 h after it\)/);
    assert.match(html, /100 \(31\.1% of previous, median 2\.5 d after it\)/);
    assert.match(html, /static \(declared never to change; not point-in-time\)<\/b><span>customer attributes/);
    assert.ok(!renderRunReport(sample()).includes('customer attributes'), 'no line without attributes');
  });

  it('states the forest trained on a downsampled majority class (a change of what it saw)', () => {
    const d = sample();
    assert.ok(!renderRunReport(d).includes('training rows'), 'every row: nothing to state');
    const trainingSample = {
      rows: 451_672,
      majorityClass: 0 as const,
      minority: 4_472,
      majorityKept: 447_200,
      majorityAll: 2_572_154,
    };
    const html = renderRunReport({ ...d, metrics: { ...d.metrics, trainingSample } });
    assert.ok(
      html.includes('forest trained on all 4,472 positive rows and 447,200 of 2,572,154 negative rows'),
      'the sample is stated in the report',
    );
  });

  it("shows the publish step's sanity warnings (few positives with the AUC interval, baseline ahead)", () => {
    const d = sample();
    const warnings = [
      'the holdout has only 23 positives (fewer than 100): its metrics are noisy; ROC AUC 0.679, 95% CI [0.571, 0.787] (DeLong)',
      'its baseline logistic beats the forest model',
    ];
    const html = renderRunReport({ ...d, champion: { ...d.champion!, warnings } });
    for (const w of warnings) assert.ok(html.includes(`<strong>Warning:</strong> ${w}`), w);
  });

  it('shows the drift checks: a chart per drifted feature and the score distribution against the delivered lists', () => {
    const ref = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 1000) / 1000);
    const moved = ref.map((v) => Math.min(0.999, v * 0.5 + 0.45));
    const score = scoreDrift(ref, moved, DEFAULT_DRIFT);
    const checks = dataDrift(
      {
        reference: { n_view_total: Float32Array.from(ref), tenure: Float32Array.from(ref) },
        current: { n_view_total: Float32Array.from(moved), tenure: Float32Array.from(ref) },
        referenceLabelRate: 0.1,
        currentLabelRate: 0.1,
        referenceRows: 2000,
        currentRows: 2000,
      },
      DEFAULT_DRIFT,
    );
    assert.equal(score.level, 'block');
    const html = renderRunReport({
      ...sample(),
      drift: {
        features: { champion: 'v0001-s', message: driftMessage(checks), accepted: true, checks },
        score: { against: 'v0001-s, run r1', message: driftMessage([score]), accepted: true, check: score },
      },
    });
    const section = html.slice(html.indexOf('<h2>Drift</h2>'), html.indexOf('<h2>Lineage</h2>'));
    assert.ok(section.length > 0, 'report.html has a drift section');
    assert.match(section, /<svg[^>]+aria-label="n_view_total"/, 'the drifted feature has its chart');
    assert.doesNotMatch(section, /aria-label="tenure"/, 'an unmoved feature has none');
    assert.match(section, /Score distribution: this run against the last delivered lists \(v0001-s, run r1\)/);
    assert.match(section, new RegExp(`PSI ${score.value.toFixed(3)} \\(block\\)`));
    // The score chart: one grey (delivered lists) and one red (this run, blocking) bar per bin of the reference.
    const chart = /<svg[^>]+aria-label="score"[^>]*>(.*?)<\/svg>/.exec(section)![1];
    assert.equal((chart.match(/fill="#bbb"/g) ?? []).length, score.bins!.reference.length);
    assert.equal((chart.match(/fill="#c0392b"/g) ?? []).length, score.bins!.current.length);
    assert.match(section, /Accepted with --accept-drift \(recorded in the champion history\)/);
    assert.equal(renderRunReport(sample()).includes('<h2>Drift</h2>'), false, 'no checks, no section');
  });

  it('escapes every text that comes from data', () => {
    const html = renderRunReport(sample());
    assert.ok(!html.includes('<script>alert'));
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
    assert.ok(!html.includes('<b>now</b>'));
    assert.ok(!/https?:\/\//.test(html), 'self-contained: no network references');
  });

  it(
    'renders in headless Chromium with non-empty SVG paths and no console errors',
    { skip: !CHROMIUM && 'Chromium is not installed (scripts/install-chromium.sh installs it)' },
    async () => {
      const dir = tempDir('fc-report-');
      const file = join(dir, 'report.html');
      await writeRunReport(file, sample());
      const res = spawnSync(
        CHROMIUM!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${join(dir, 'profile')}`,
          '--enable-logging=stderr',
          '--v=0',
          '--dump-dom',
          `file://${file}`,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(res.status, 0, res.stderr);
      const dom = res.stdout;
      const paths = [...dom.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
      assert.ok(paths.length >= 10, `${paths.length} paths rendered`);
      assert.ok(paths.every((d) => d.length > 3 && !d.includes('NaN')));
      assert.equal((dom.match(/<svg/g) ?? []).length, readFileSync(file, 'utf8').match(/<svg/g)!.length);
      assert.ok(!/Uncaught|CONSOLE\(\d+\)\].*error/i.test(res.stderr), res.stderr);
    },
  );
});
