/**
 * Queues by kind of work: every activity the worker registers belongs to one kind, the steps that open the
 * warehouse DuckDB file are on the warehouse queue, and `--queues` refuses what it does not know.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createActivities } from '../../../activities';
import { activityKind, parseQueueKinds, queueFor } from '../../../workflows/queues';
import { kindsOf } from '../../../worker';

describe('task queues by kind', () => {
  it('routes each activity to its kind', () => {
    const byKind: Record<string, string[]> = {};
    for (const name of Object.keys(createActivities())) (byKind[activityKind(name)] ??= []).push(name);
    assert.deepEqual(byKind.cpu?.sort(), ['scoreUsers', 'summariseFolds', 'trainModel']);
    assert.deepEqual(byKind.warehouse?.sort(), [
      'buildFeatures',
      'buildSegments',
      'extractSources',
      'finishRun',
      'fitCustomerValue',
      'measureCampaigns',
      'nextBestAction',
      'publishModel',
      'resolveRuns',
      'trainUplift',
    ]);
    assert.ok(byKind.io?.includes('loadDefinition') && byKind.io.includes('deliverToBucket'));
    assert.equal(byKind.workflows, undefined, 'no activity on the workflow queue: workflows are never blocked');
  });

  it('names the queues from the run queue, and parses --queues', () => {
    assert.equal(queueFor('fc', 'workflows'), 'fc');
    assert.equal(queueFor('fc', 'warehouse'), 'fc-warehouse');
    assert.deepEqual(parseQueueKinds('cpu, warehouse,cpu'), ['cpu', 'warehouse']);
    assert.throws(() => parseQueueKinds('gpu'), /expected a comma-separated list of workflows, io, cpu, warehouse/);
    assert.deepEqual(kindsOf('both'), ['workflows', 'io', 'cpu', 'warehouse']);
    assert.deepEqual(kindsOf('cpu'), ['cpu']);
  });
});
