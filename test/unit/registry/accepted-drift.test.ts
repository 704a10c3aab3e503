/**
 * Issue 24: score drift a run accepted before delivery (`run --accept-drift`) is in the champion history, for the
 * registry in a local folder and the one in the artifact store (its mirror included): once per run however often
 * the activity is retried, and without changing what a rollback goes back to.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelRegistry, type ChampionStanding } from '../../../registry';
import { openRegistry } from '../../../registry/open';
import { LocalStore } from '../../../store';
import { tempDir } from '../../helpers/warehouse';

async function publish(reg: ModelRegistry, runId: string, auc: number) {
  const f = join(tempDir(), `${runId}.json`);
  writeFileSync(f, JSON.stringify({ runId }));
  const c = reg.champion();
  const champion: ChampionStanding = c ? { kind: 'same-rows', version: c.version, value: c.value } : { kind: 'none' };
  const cutoff = '2024-04-30T00:00:00.000Z';
  return reg.publish({
    runId,
    files: [{ name: 'model.json', from: f }],
    info: {
      engine: 'forest',
      primaryMetric: 'roc_auc',
      metrics: { holdout: { roc_auc: auc } },
      lineage: { cutoff },
      params: {},
      featureNames: ['a'],
    },
    primaryValue: auc,
    cutoff,
    champion,
    tolerance: 0.01,
  });
}

async function acceptedDriftIsRecorded(reg: ModelRegistry, reopen: () => Promise<ModelRegistry>) {
  const first = await publish(reg, 'run-a', 0.8);
  const second = await publish(reg, 'run-b', 0.85);
  assert.equal(reg.champion()!.version, second.version);
  const reason = 'score drift accepted before delivery (--accept-drift): blocked: score PSI 0.412 (block)';
  await reg.recordAcceptedDrift({ version: second.version, reason, by: 'run-b' });
  await reg.recordAcceptedDrift({ version: second.version, reason, by: 'run-b' }); // a retried activity
  const h = (await reopen()).history();
  const accepted = h.filter((e) => e.action === 'accept-drift');
  assert.equal(accepted.length, 1, 'recorded once per run');
  assert.deepEqual(
    { ...accepted[0], at: undefined },
    {
      at: undefined,
      action: 'accept-drift',
      version: second.version,
      previous: second.version,
      cutoff: '2024-04-30T00:00:00.000Z',
      metric: 'roc_auc',
      value: 0.85,
      reason,
      by: 'run-b',
    },
  );
  assert.equal(h.at(-1)!.action, 'accept-drift', 'the latest entry of the history');
  assert.equal(reg.champion()!.version, second.version, 'the pointer did not move');
  // A rollback still goes back to what the champion replaced, not to the accept-drift entry's own version.
  const back = await reg.rollback('tester');
  assert.equal(back.version, first.version);
}

describe('accepted score drift in the champion history', () => {
  it('local registry folder', async () => {
    const root = tempDir('fc-reg-');
    await acceptedDriftIsRecorded(new ModelRegistry(root), async () => new ModelRegistry(root));
  });

  it('registry in the artifact store, read through its mirror', async () => {
    const store = new LocalStore(tempDir('fc-store-'));
    const root = tempDir('fc-mirror-');
    await acceptedDriftIsRecorded(await openRegistry('p', store, root), () => openRegistry('p', store, root));
  });
});
