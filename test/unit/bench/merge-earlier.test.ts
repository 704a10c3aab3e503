/**
 * The pipeline reference takes 20–40 minutes at 10 M events, so it is run alone (`--reference-only`) and later
 * `--no-reference` runs of ours must keep its figures and ratios: before mergeEarlier, such a run kept the earlier
 * rows only beside its own (same metric twice, one with the old ours and the reference, one with the new ours and
 * no ratio), or lost the reference when the rows matched.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as harness from '../../../bench/harness';
import { row, type BenchRow } from '../../../bench/harness';

const dataset = 'generated-10m (10000000 events, 3260000 training users)';
const ref = 'pandas + scikit-learn 1.9.1 (n_jobs=2)';

function resultsWith(rows: BenchRow[], startedAt: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fc-bench-merge-'));
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify({ startedAt, rows, notes: [] }));
  return dir;
}

const mergeEarlier = (...a: [string, BenchRow[], string[], string]): BenchRow[] => {
  assert.equal(typeof harness.mergeEarlier, 'function', 'bench/harness exports mergeEarlier');
  return harness.mergeEarlier(...a);
};

describe('bench results: a side this run did not measure comes from the earlier results', () => {
  it('a --no-reference run keeps the reference alone, its date, and the ratio to the new ours', () => {
    const dir = resultsWith(
      [
        {
          ...row({
            name: 'whole pipeline',
            dataset,
            metric: 'wall seconds (headline)',
            ours: null,
            reference: 1500,
            referenceName: ref,
          }),
          referenceAt: '2026-12-02T22:00:00.000Z',
        },
        row({ name: 'whole pipeline', dataset, metric: 'CPU seconds (process tree)', ours: 900, reference: null }),
        row({ name: 'step features', dataset, metric: 'wall seconds', ours: 40, reference: 300, referenceName: ref }),
      ],
      '2026-12-02T23:00:00.000Z',
    );
    const now = [
      row({ name: 'whole pipeline', dataset, metric: 'wall seconds (headline)', ours: 150, reference: null }),
      row({ name: 'whole pipeline', dataset, metric: 'CPU seconds (process tree)', ours: 250, reference: null }),
      row({ name: 'step features', dataset, metric: 'wall seconds', ours: 20, reference: null }),
    ];
    const out = mergeEarlier('pipeline', now, [], dir);
    assert.equal(out.length, 3, JSON.stringify(out, null, 1));
    const wall = out.find((r) => r.metric === 'wall seconds (headline)')!;
    assert.deepEqual([wall.ours, wall.reference, wall.ratio, wall.referenceName], [150, 1500, 0.1, ref]);
    assert.equal(wall.referenceAt, '2026-12-02T22:00:00.000Z', 'the date the reference was measured is kept');
    const features = out.find((r) => r.name === 'step features')!;
    // Measured with both sides by the run of the file: dated by that run.
    assert.deepEqual([features.ours, features.reference, features.referenceAt], [20, 300, '2026-12-02T23:00:00.000Z']);
    assert.equal(out.find((r) => r.metric.startsWith('CPU'))!.ours, 250);
  });

  it('a reference-only run takes ours from the earlier run, dated, and keeps one row per metric', () => {
    const dir = resultsWith(
      [
        row({ name: 'whole pipeline', dataset, metric: 'wall seconds (headline)', ours: 160, reference: null }),
        row({ name: 'whole pipeline', dataset, metric: 'max event-loop delay ms', ours: 300, reference: null }),
      ],
      '2026-12-02T21:00:00.000Z',
    );
    const now = [
      row({
        name: 'whole pipeline',
        dataset,
        metric: 'wall seconds (headline)',
        ours: null,
        reference: 1600,
        referenceName: ref,
      }),
    ];
    const out = mergeEarlier('pipeline', now, [], dir);
    assert.equal(out.length, 2, JSON.stringify(out, null, 1));
    const wall = out.find((r) => r.metric === 'wall seconds (headline)')!;
    assert.deepEqual(
      [wall.ours, wall.reference, wall.ratio, wall.oursAt],
      [160, 1600, 0.1, '2026-12-02T21:00:00.000Z'],
    );
    assert.equal(out.find((r) => r.metric.startsWith('max'))!.ours, 300, 'rows this run did not touch are kept');
  });

  it('another data set is kept as it was, and a side measured now is never replaced', () => {
    const dir = resultsWith(
      [
        row({
          name: 'whole pipeline',
          dataset: 'generated-1m',
          metric: 'wall seconds (headline)',
          ours: 30,
          reference: 90,
          referenceName: ref,
        }),
        row({
          name: 'whole pipeline',
          dataset,
          metric: 'wall seconds (headline)',
          ours: 170,
          reference: 1400,
          referenceName: ref,
        }),
      ],
      '2026-12-02T21:00:00.000Z',
    );
    const now = [
      row({
        name: 'whole pipeline',
        dataset,
        metric: 'wall seconds (headline)',
        ours: 150,
        reference: 1500,
        referenceName: ref,
      }),
    ];
    const out = mergeEarlier('pipeline', now, [], dir);
    assert.equal(out.length, 2);
    const ten = out.find((r) => r.dataset === dataset)!;
    assert.deepEqual([ten.ours, ten.reference, ten.referenceAt, ten.oursAt], [150, 1500, undefined, undefined]);
    assert.equal(out.find((r) => r.dataset === 'generated-1m')!.ratio, 30 / 90);
  });

  it('a run measuring both sides replaces the earlier rows of ours alone (no metric twice)', () => {
    const dir = resultsWith(
      [
        row({ name: 'whole pipeline', dataset, metric: 'wall seconds (headline)', ours: 129, reference: null }),
        row({ name: 'whole pipeline', dataset, metric: 'peak RSS MB (process tree)', ours: 2767, reference: null }),
      ],
      '2026-12-03T02:18:38.317Z',
    );
    const now = [
      row({
        name: 'whole pipeline',
        dataset,
        metric: 'wall seconds (headline)',
        ours: 165,
        reference: 949,
        referenceName: ref,
      }),
    ];
    const out = mergeEarlier('pipeline', now, [], dir);
    const walls = out.filter((r) => r.metric === 'wall seconds (headline)');
    assert.deepEqual(
      walls.map((r) => [r.ours, r.reference]),
      [[165, 949]],
      JSON.stringify(out, null, 1),
    );
    assert.ok(
      out.some((r) => r.metric === 'peak RSS MB (process tree)' && r.ours === 2767),
      'unmeasured rows kept',
    );
  });
});
