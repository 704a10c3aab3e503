import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { durationMs } from '../pipelines/schema';
import { paths } from '../infra/paths';
import { writeJsonAtomic } from '../infra/atomic';
import { withDuckDB } from '../warehouse/db';
import { columnSafe, observedUntil } from '../warehouse/features';
import { readRfmSummaries, validateAgainstHoldout, writeCustomerValues } from '../warehouse/clv';
import { runClvJobOnThread } from '../ml/clv/thread';
import type { ClvRef, FeatureRef } from '../workflows/types';
import { claimFiles, failFastOnBadInput, InputError, withHeartbeat } from './context';

/**
 * Customer lifetime value at the run's cutoff: fits BG/NBD + Gamma-Gamma on the customers' RFM summaries (on a
 * worker thread), writes clv.parquet beside the features and, when the data already holds the horizon after the
 * cutoff, compares predicted with realised repeat purchases. A fit that does not converge fails the run before
 * anything is published (non-retryable: the same data gives the same fit).
 */
export async function fitCustomerValue(input: {
  loaded: LoadedPipeline;
  runDir: string;
  cutoff: string;
  features: Pick<FeatureRef, 'featuresPath'>;
}): Promise<ClvRef> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const spec = def.clv;
    if (!spec) throw new InputError(`pipeline "${def.name}" defines no "clv"`);
    const outDir = join(input.runDir, 'clv');
    const clvPath = join(outDir, 'clv.parquet');
    const refPath = join(outDir, 'clv.json');
    // Retries and resumed runs: the run folder is keyed by its inputs, so a finished result is the same result.
    if (existsSync(refPath) && existsSync(clvPath)) return JSON.parse(readFileSync(refPath, 'utf8')) as ClvRef;
    const unit = def.features.rfmUnit;
    const horizon = durationMs(spec.horizon) / ((unit === 'weeks' ? 7 : 1) * 86_400_000);
    const purchaseCount = `n_${columnSafe(def.label.event)}_total`;
    const writer = claimFiles(outDir, 'clv');
    try {
      const model = await withDuckDB(':memory:', async (conn) => {
        const read = await readRfmSummaries(conn, input.features.featuresPath, purchaseCount);
        if (read.customers === 0)
          throw new InputError(
            `CLV: no user made a "${def.label.event}" before ${input.cutoff}: there are no customers to model`,
          );
        const job = await withHeartbeat(
          runClvJobOnThread({
            summary: read.summary,
            repeat: read.repeat,
            options: { horizon, unit, annualDiscountRate: spec.annualDiscountRate },
          }),
          () => ({ step: 'clv' }),
        ).catch((e: Error) => {
          throw e.name === 'ClvFitError' ? new InputError(`CLV not published: ${e.message}`) : e;
        });
        writer.check();
        await writeCustomerValues(conn, {
          featuresPath: input.features.featuresPath,
          purchaseCount,
          summary: read.summary,
          perSummary: job,
          model: job.model,
          outFile: clvPath,
          writer,
        });
        return { ...job.model, customers: read.customers, users: read.users };
      });
      const end = new Date(Date.parse(input.cutoff) + durationMs(spec.horizon)).toISOString();
      const validation = await withDuckDB(paths.warehouse(def.name), async (conn) =>
        (await observedUntil(conn, false)) >= Date.parse(end)
          ? validateAgainstHoldout(conn, { clvPath, purchase: def.label.event, cutoff: input.cutoff, end })
          : null,
      );
      const ref: ClvRef = {
        clvPath,
        horizon: spec.horizon,
        unit,
        annualDiscountRate: spec.annualDiscountRate,
        customers: model.customers,
        users: model.users,
        repeatCustomers: model.gammaGamma.customers,
        bgnbd: { ...model.bgnbd.params, logLikelihood: model.bgnbd.logLikelihood },
        gammaGamma: { ...model.gammaGamma.params, logLikelihood: model.gammaGamma.logLikelihood },
        populationSpend: model.populationSpend,
        validation: validation && { until: end, buckets: validation },
      };
      writeJsonAtomic(refPath, ref, writer);
      return ref;
    } finally {
      writer.release();
    }
  });
}
