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
import { claimFiles, failFastOnBadInput, InputError, withHeartbeat, type AttemptWriter } from './context';
import type { PipelineDefinition } from '../pipelines/schema';

type Fitted = Awaited<ReturnType<typeof fitAndWrite>>;

/** Fits on one feature table's RFM summaries (on a worker thread) and writes one row per customer to `outFile`. */
async function fitAndWrite(
  def: PipelineDefinition,
  featuresPath: string,
  cutoff: string,
  outFile: string,
  writer: AttemptWriter,
) {
  const spec = def.clv!;
  const unit = def.features.rfmUnit;
  const horizon = durationMs(spec.horizon) / ((unit === 'weeks' ? 7 : 1) * 86_400_000);
  const purchaseCount = `n_${columnSafe(def.label.event)}_total`;
  return withDuckDB(':memory:', async (conn) => {
    const read = await readRfmSummaries(conn, featuresPath, purchaseCount);
    if (read.customers === 0)
      throw new InputError(
        `CLV: no user made a "${def.label.event}" before ${cutoff}: there are no customers to model`,
      );
    const job = await withHeartbeat(
      runClvJobOnThread({
        summary: read.summary,
        repeat: read.repeat,
        options: { horizon, unit, annualDiscountRate: spec.annualDiscountRate },
      }),
      () => ({ step: 'clv', cutoff }),
    ).catch((e: Error) => {
      throw e.name === 'ClvFitError' ? new InputError(`CLV at ${cutoff} not published: ${e.message}`) : e;
    });
    writer.check();
    await writeCustomerValues(conn, {
      featuresPath,
      purchaseCount,
      summary: read.summary,
      perSummary: job,
      model: job.model,
      outFile,
      writer,
    });
    return { ...job.model, cutoff, customers: read.customers, users: read.users };
  });
}

function params(
  m: Fitted,
): Pick<ClvRef, 'cutoff' | 'customers' | 'users' | 'repeatCustomers' | 'bgnbd' | 'gammaGamma' | 'populationSpend'> {
  return {
    cutoff: m.cutoff,
    customers: m.customers,
    users: m.users,
    repeatCustomers: m.gammaGamma.customers,
    bgnbd: { ...m.bgnbd.params, logLikelihood: m.bgnbd.logLikelihood },
    gammaGamma: { ...m.gammaGamma.params, logLikelihood: m.gammaGamma.logLikelihood },
    populationSpend: m.populationSpend,
  };
}

/**
 * Customer lifetime value at the run's cutoff, and its backtest. The values the lists use are fitted on the
 * customers' RFM summaries at the cutoff (clv/clv.parquet). As the propensity model is judged by training one
 * horizon earlier, the CLV models are also fitted at the training cutoff and, when the data covers the CLV
 * horizon after it, their predicted repeat purchases are compared with the realised ones (what `lifetimes` users
 * plot). A fit that does not converge fails the run before anything is published (non-retryable: the same data
 * gives the same fit).
 */
export async function fitCustomerValue(input: {
  loaded: LoadedPipeline;
  runDir: string;
  cutoff: string;
  features: Pick<FeatureRef, 'featuresPath'>;
  trainingCutoff: string;
  trainingFeatures: Pick<FeatureRef, 'featuresPath'>;
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
    const writer = claimFiles(outDir, 'clv');
    try {
      const atCutoff = await fitAndWrite(def, input.features.featuresPath, input.cutoff, clvPath, writer);
      const end = new Date(Date.parse(input.trainingCutoff) + durationMs(spec.horizon)).toISOString();
      const observed = await withDuckDB(paths.warehouse(def.name), (conn) => observedUntil(conn, false));
      let validation: ClvRef['validation'] = null;
      if (observed >= Date.parse(end)) {
        const backtestPath = join(outDir, 'backtest.parquet');
        const back = await fitAndWrite(
          def,
          input.trainingFeatures.featuresPath,
          input.trainingCutoff,
          backtestPath,
          writer,
        );
        const buckets = await withDuckDB(paths.warehouse(def.name), (conn) =>
          validateAgainstHoldout(conn, {
            clvPath: backtestPath,
            purchase: def.label.event,
            cutoff: input.trainingCutoff,
            end,
          }),
        );
        validation = { ...params(back), until: end, buckets };
      }
      const ref: ClvRef = {
        clvPath,
        horizon: spec.horizon,
        unit: def.features.rfmUnit,
        annualDiscountRate: spec.annualDiscountRate,
        ...params(atCutoff),
        validation,
      };
      writeJsonAtomic(refPath, ref, writer);
      return ref;
    } finally {
      writer.release();
    }
  });
}
