/**
 * Issue 21, the report for a marketer: every list says what it is, what to do and what its expected conversions
 * mean; RFM bars in value order; clusters in words; visible legends; extract tiles that are not 0/0/0 on an
 * incremental run; nothing overflows its tile at 1280 px (checked in headless Chromium).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderRunReport, type RunReportData } from '../../../report';
import { calibrationBins, liftByDecile, prCurve, rocCurve } from '../../../ml/metrics';
import { tempDir } from '../../helpers/warehouse';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

function data(): RunReportData {
  const y = Array.from({ length: 300 }, (_, i) => (i % 5 === 0 ? 1 : 0));
  const p = y.map((v, i) => Math.min(0.95, (v ? 0.45 : 0.1) + ((i * 31) % 100) / 300));
  return {
    pipeline: 'sample',
    runId: 'sample-20240430T000000Z-62f9bf1452',
    cutoff: '2024-04-30T00:00:00.000Z',
    horizon: '30d',
    generatedAt: '2024-05-01T00:00:00.000Z',
    modelVersion: 'v0012-sample-20240430T000000Z-62f9bf1452',
    engine: 'forest',
    // An incremental run: the source file was already loaded, nothing new read.
    counts: {
      read: 0,
      loaded: 0,
      duplicates: 0,
      quarantined: 0,
      users: 4000,
      labelRate: 0.07,
      events: 61234,
      filesSkipped: 1,
    },
    metrics: { holdout: { roc_auc: 0.81, pr_auc: 0.3, ece: 0.02, predicted_to_observed: 1.01 } },
    curves: { roc: rocCurve(y, p), pr: prCurve(y, p), lift: liftByDecile(y, p), calibration: calibrationBins(y, p) },
    importances: [{ name: 'n_addtocart_7d', importance: 0.3 }],
    funnel: [],
    champion: { decision: 'first', reason: 'first model', version: 'v0012-sample-20240430T000000Z-62f9bf1452' },
    marketer: {
      segmentSizes: { rfm: { 'About to Sleep': 30, 'At Risk': 20, Champions: 5, Lost: 400, 'Loyal Customers': 12 } },
      campaigns: [
        {
          name: 'cart_abandoners',
          kind: 'campaign',
          description: 'Carted in the last 14 days, did not buy',
          action: 'send a cart reminder',
          rows: 120,
          expectedConversions: 58.5,
          realisedConversions: 50,
        },
        {
          name: 'rfm_champions',
          kind: 'rfm_segment',
          description: 'Every user the RFM map calls "Champions"',
          action: 'reward them',
          rows: 5,
          expectedConversions: 2,
        },
      ],
      sampleRows: [{ user_id: 'u1', propensity: 0.9, reason_1: 'added to cart 3 times in the last 7 days' }],
      clusters: [{ cluster: 1, size: 10, distinguishing: [{ feature: 'n_sessions', z: 1.4 }], inWords: 'many visits' }],
    },
    lineage: {},
  };
}

describe('report for marketers', () => {
  it('explains each list, orders RFM segments by value, describes clusters in words', () => {
    const html = renderRunReport(data());
    const m = html.slice(html.indexOf('<h2>For marketers</h2>'));
    for (const s of [
      'Carted in the last 14 days, did not buy',
      'send a cart reminder',
      'expected conversions 2024-04-30 → 2024-05-30',
      '<b>baseline</b>',
      'not</b> the\n       campaign',
      'Deciles: 1 = the top 10 % of scores',
      'Segment lists (one per RFM segment / cluster)',
      '<td>many visits</td>',
    ])
      assert.ok(m.includes(s), s);
    const bars = m.slice(m.indexOf('RFM segments, most valuable first'));
    const order = [...bars.matchAll(/text-anchor="end">([^<]+)<\/text>/g)].map((x) => x[1].replace('&#39;', "'"));
    assert.deepEqual(order.slice(0, 5), ['Champions', 'Loyal Customers', 'At Risk', 'About to Sleep', 'Lost']);
  });

  it('labels the ROC and calibration lines visibly and shows the warehouse, not zeros, on an incremental run', () => {
    const html = renderRunReport(data());
    const legends = [...html.matchAll(/<ul class="legend">(.*?)<\/ul>/g)].map((x) => x[1]);
    assert.ok(legends.some((l) => l.includes('forest (AUC 0.810)') && l.includes('random ranking')));
    assert.ok(legends.some((l) => /holdout \(.*ECE 0\.020/.test(l) && l.includes('perfect calibration')));
    assert.match(html, /<b>61,234<\/b><span>events in the warehouse/);
    assert.match(html, /none \(1 file unchanged\)<\/b><span>rows loaded this run/);
    assert.ok(!/<b>0<\/b><span>rows read/.test(html));
  });

  it(
    'fits every tile text in its box and shows the legends at 1280 px in headless Chromium',
    { skip: !CHROMIUM && 'Chromium is not installed (scripts/install-chromium.sh installs it)' },
    () => {
      const dir = tempDir('fc-report-fit-');
      const file = join(dir, 'report.html');
      // The report itself has no script; this test copy measures the layout and writes the result into the DOM.
      const probe = `<script>
        const bad = [...document.querySelectorAll('.card b, .card span')].filter((e) => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > e.parentElement.getBoundingClientRect().right + 1).map((e) => e.textContent);
        const legends = [...document.querySelectorAll('.legend li')].filter((e) => e.getBoundingClientRect().height > 0).length;
        document.body.setAttribute('data-fit', JSON.stringify({ bad, legends, width: innerWidth }));
      </script>`;
      writeFileSync(file, renderRunReport(data()).replace('</body>', `${probe}</body>`));
      const res = spawnSync(
        CHROMIUM!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${join(dir, 'profile')}`,
          '--window-size=1280,2400',
          `--screenshot=${join(dir, 'report.png')}`,
          '--dump-dom',
          `file://${file}`,
        ],
        { encoding: 'utf8', timeout: 90_000 },
      );
      assert.equal(res.status, 0, res.stderr);
      const fit = JSON.parse(/data-fit="([^"]*)"/.exec(res.stdout)![1].replace(/&quot;/g, '"'));
      assert.equal(fit.width, 1280);
      assert.deepEqual(fit.bad, [], 'tile texts wider than their tile');
      assert.ok(fit.legends >= 6, `${fit.legends} legend entries visible`);
      assert.ok(readFileSync(file, 'utf8').length > 0);
    },
  );
});
