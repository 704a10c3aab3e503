import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { ensureDir, paths } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { buildFeatures as buildFeatureTables } from '../warehouse/features';
import type { FeatureRef } from '../workflows/types';
import { cancellationSignal, failFastOnBadInput, withHeartbeat } from './context';
import { writeJsonAtomic } from '../infra/atomic';
import { modelReadsSequences } from '../pipelines/schema/model';
import { openRegistry } from '../registry/open';

/**
 * Whether the run may read the users' sequences: a model it trains reads them, or the pipeline's champion (which
 * scores a live run's users and is compared with the challenger on the same rows) is an LSTM or a blend.
 */
export async function runReadsSequences(loaded: LoadedPipeline): Promise<boolean> {
  const def = loaded.definition;
  if (modelReadsSequences(def.model)) return true;
  const registry = await openRegistry(def.name);
  const champ = registry.champion();
  if (!champ) return false;
  const engine = registry.info(champ.version).engine;
  return engine === 'lstm' || engine === 'blend';
}

/** Point-in-time features, labels (and sequences when the run reads them) at the cutoff, as Parquet under the run folder. */
export async function buildFeatures(input: {
  loaded: LoadedPipeline;
  cutoff: string;
  runDir: string;
  folder?: string;
}): Promise<FeatureRef> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const outDir = ensureDir(join(input.runDir, input.folder ?? 'features'));
    const r = await withHeartbeat(
      withDuckDB(
        paths.warehouse(def.name),
        async (conn) =>
          buildFeatureTables(conn, def, {
            cutoff: new Date(input.cutoff),
            outDir,
            sequences: await runReadsSequences(input.loaded),
          }),
        cancellationSignal(),
      ),
      () => ({ step: 'features' }),
    );
    const funnelPath = join(outDir, 'funnel.json');
    writeJsonAtomic(funnelPath, { cutoff: input.cutoff, stages: r.funnel });
    writeJsonAtomic(join(outDir, 'schema.json'), { features: r.featureNames, docs: r.featureDocs });
    return {
      featuresPath: r.featuresPath,
      sequencesPath: r.sequencesPath,
      vocabPath: r.vocabPath,
      users: r.users,
      labelled: r.labelled,
      positives: r.positives,
      labelRate: r.labelRate,
      featureNames: r.featureNames,
      funnel: r.funnel,
      funnelPath,
      customerAttributes: r.customerAttributes,
      churn: r.churn,
    };
  });
}
