import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandCutoffs } from '../../../cli/backfill';
import { progressBar, table } from '../../../cli/format';
import { runWorkflowId } from '../../../cli/run';
import { childWorkflowId } from '../../../workflows/backfill';

describe('cli helpers', () => {
  it('expands backfill cutoffs inclusively and bounds their number', () => {
    assert.deepEqual(expandCutoffs('2024-01-01', '2024-01-15', '1w'), [
      '2024-01-01T00:00:00.000Z',
      '2024-01-08T00:00:00.000Z',
      '2024-01-15T00:00:00.000Z',
    ]);
    assert.throws(() => expandCutoffs('2024-01-15', '2024-01-01', '1w'), /before/);
    assert.throws(() => expandCutoffs('2000-01-01', '2024-01-01', '1d'), /at most/);
    assert.throws(() => expandCutoffs('yesterday', '2024-01-01', '1d'), /ISO/);
  });

  it('gives the same workflow id to a run and to the backfill child of the same cutoff', () => {
    assert.equal(runWorkflowId('sample', '2024-03-01T00:00:00.000Z'), childWorkflowId('sample', '2024-03-01'));
    assert.match(runWorkflowId('sample'), /^retrain-sample-now-/);
  });

  it('formats tables and progress bars', () => {
    const t = table(
      ['a', 'n'],
      [
        ['x', '1'],
        ['long', '1,000'],
      ],
    ).split('\n');
    assert.equal(t.length, 4);
    assert.ok(t[3].endsWith('1,000'));
    assert.equal(progressBar(1, 4, 4), '[█░░░] 25%');
  });
});
