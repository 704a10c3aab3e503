/**
 * The features activity writes the users' event sequences only when the run may read them: a model it trains is
 * (or contains) the LSTM, or the pipeline's champion — which scores a live run's users and is compared with the
 * challenger — is an LSTM or a blend. At 10 M events the sequence table cost as much CPU as the features themselves
 * (issue 17), and a forest run never reads it. Real DuckDB, the activity under MockActivityEnvironment.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { buildFeatures } from '../../../activities/features';
import { paths } from '../../../infra/paths';
import { modelReadsSequences } from '../../../pipelines/schema/model';
import { parsePipeline } from '../../../pipelines/load';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { inlinePipeline, tempDir } from '../../helpers/warehouse';
import type { FeatureRef } from '../../../workflows/types';

const EVENTS = [
  'u,t,e',
  'a,2024-01-01T10:00:00Z,view',
  'a,2024-01-02T10:00:00Z,buy',
  'b,2024-01-03T10:00:00Z,view',
  'c,2024-01-04T10:00:00Z,view',
  'a,2024-01-12T10:00:00Z,buy',
].join('\n');

/** A pipeline on a small events file, extracted into a fresh home's warehouse. */
async function pipeline(name: string, model: Record<string, unknown>) {
  process.env.FUNNELCAST_HOME = tempDir('fc-seq-home-');
  const dir = tempDir('fc-seq-');
  writeFileSync(join(dir, 'events.csv'), EVENTS + '\n');
  const loaded = inlinePipeline(
    {
      name,
      sources: { events: { path: 'events.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
      label: { event: 'buy', horizon: '7d' },
      model,
    },
    dir,
  );
  await withDuckDB(paths.warehouse(name), (conn) => extractPipeline(conn, loaded));
  return loaded;
}

async function run(loaded: Awaited<ReturnType<typeof pipeline>>) {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const runDir = tempDir('fc-seq-run-');
  const ref = (await env.run(buildFeatures, { loaded, cutoff: '2024-01-10T00:00:00.000Z', runDir })) as FeatureRef;
  return { ref, sequencesFile: join(runDir, 'features', 'sequences.parquet') };
}

/** A champion pointer to a version of `engine`, written as the registry keeps them. */
function champion(pipelineName: string, engine: string) {
  const root = paths.registry(pipelineName);
  mkdirSync(join(root, 'versions', 'v0001-x'), { recursive: true });
  writeFileSync(join(root, 'versions', 'v0001-x', 'version.json'), JSON.stringify({ version: 'v0001', engine }));
  writeFileSync(join(root, 'champion.json'), JSON.stringify({ version: 'v0001', metric: 'roc_auc', value: 0.9 }));
}

describe('features activity: sequences only when the run may read them', () => {
  it('a forest run with no champion writes none', async () => {
    const { ref, sequencesFile } = await run(await pipeline('seqforest', { engine: 'forest' }));
    assert.equal(existsSync(sequencesFile), false, 'sequences.parquet written for a forest run');
    assert.equal(ref.sequencesPath, '');
    assert.ok(existsSync(ref.featuresPath));
  });

  it('an LSTM run writes them', async () => {
    const { ref, sequencesFile } = await run(await pipeline('seqlstm', { engine: 'lstm' }));
    assert.equal(ref.sequencesPath, sequencesFile);
    assert.ok(existsSync(sequencesFile));
  });

  it('a forest run whose champion is an LSTM writes them (the champion scores and is compared on them)', async () => {
    const loaded = await pipeline('seqchamp', { engine: 'forest' });
    champion('seqchamp', 'lstm');
    const { ref, sequencesFile } = await run(loaded);
    assert.equal(ref.sequencesPath, sequencesFile);
    assert.ok(existsSync(sequencesFile));
  });

  it('knows which model settings read sequences', () => {
    const m = (model: Record<string, unknown>) =>
      parsePipeline({
        name: 'x',
        sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
        label: { event: 'buy', horizon: '7d' },
        model,
      }).model;
    assert.equal(modelReadsSequences(m({ engine: 'forest' })), false);
    assert.equal(modelReadsSequences(m({ engine: 'boosted', baselines: ['logistic', 'forest'] })), false);
    assert.equal(modelReadsSequences(m({ engine: 'blend', blend: { parts: ['forest', 'boosted'] } })), false);
    assert.equal(modelReadsSequences(m({ engine: 'blend' })), true, 'the default blend is forest + LSTM');
    assert.equal(modelReadsSequences(m({ engine: 'lstm' })), true);
    assert.equal(modelReadsSequences(m({ engine: 'auto', auto: { candidates: ['forest', 'lstm'] } })), true);
    assert.equal(modelReadsSequences(m({ engine: 'forest', baselines: ['lstm'] })), true);
  });
});
