import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandCutoffs } from '../../../cli/backfill';
import { progressBar, table } from '../../../cli/format';
import { planWorkflowId } from '../../../cli/run';

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

  it('names the planning workflow of a run by pipeline, cutoff and start time (the run itself has its run id)', () => {
    assert.equal(planWorkflowId('sample', '2024-03-01T00:00:00.000Z', 36), 'plan-sample-20240301T000000Z-10');
    assert.match(planWorkflowId('sample', undefined, 1), /^plan-sample-default-/);
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
