import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../infra/root';
import { qiniCoefficient, qiniCurve, upliftAtK, upliftAuc, upliftCurve } from '../../../lift/uplift-metrics';

interface Case {
  name: string;
  y: number[];
  t: number[];
  score: number[];
  uplift_auc: number;
  qini_auc: number;
  uplift_at_30_overall: number;
  uplift_at_30_by_group: number;
  uplift_curve: { x: number[]; y: number[] };
  qini_curve: { x: number[]; y: number[] };
}

const fixture = JSON.parse(readFileSync(join(projectRoot(), 'test', 'fixtures', 'uplift', 'sklift.json'), 'utf8')) as {
  sklift: string;
  cases: Case[];
};

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

describe(`uplift metrics against scikit-uplift ${fixture.sklift} (bench/python/uplift_fixtures.py)`, () => {
  for (const c of fixture.cases)
    it(`${c.name}: curves, AUUC, Qini coefficient and uplift@30 %`, () => {
      const u = upliftCurve(c.y, c.t, c.score);
      const q = qiniCurve(c.y, c.t, c.score);
      assert.deepEqual(u.x, c.uplift_curve.x);
      u.y.forEach((v, i) => close(v, c.uplift_curve.y[i], `uplift curve ${i}`));
      assert.deepEqual(q.x, c.qini_curve.x);
      q.y.forEach((v, i) => close(v, c.qini_curve.y[i], `qini curve ${i}`));
      close(upliftAuc(c.y, c.t, c.score), c.uplift_auc, 'uplift_auc_score');
      close(qiniCoefficient(c.y, c.t, c.score), c.qini_auc, 'qini_auc_score');
      close(upliftAtK(c.y, c.t, c.score, 0.3, 'overall'), c.uplift_at_30_overall, 'uplift@30 % overall');
      close(upliftAtK(c.y, c.t, c.score, 0.3, 'by_group'), c.uplift_at_30_by_group, 'uplift@30 % by group');
    });
});
