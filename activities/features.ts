import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { ensureDir, paths } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { buildFeatures as buildFeatureTables } from '../warehouse/features';
import type { FeatureRef } from '../workflows/types';
import { cancellationSignal, failFastOnBadInput, withHeartbeat } from './context';
import { writeJsonAtomic } from '../infra/atomic';

/** Point-in-time features, labels and sequences at the cutoff, written as Parquet under the run folder. */
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
        (conn) => buildFeatureTables(conn, def, { cutoff: new Date(input.cutoff), outDir }),
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
