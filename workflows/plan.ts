/**
 * Planning a run (workflow-side, deterministic): load the definition, extract the sources, then resolve the cutoff
 * and the content-addressed run id (activities/definition.ts). The retrain workflow runs the plan it is given, so
 * the id it runs under is the one computed from the data it reads.
 */
import { workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import { routed } from './proxies';
import type { RunInput, RunPlan, RunSummary } from './types';

const io = routed({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

export async function planRun(input: RunInput, step: (name: string) => void = () => {}): Promise<RunPlan> {
  // A scheduled run takes its cutoff from the time it was scheduled for, not from the wall clock (or, with the
  // definition's `clock: "data"`, from the data's last complete day: activities/definition.ts).
  const scheduled = workflowInfo().typedSearchAttributes.get(SCHEDULED_START);
  const cutoff = input.cutoff ?? scheduled?.toISOString();
  const plan = (
    await planRuns(input.pipeline, [cutoff], step, {
      replaceIncomparable: input.replaceIncomparable,
      acceptDrift: input.acceptDrift,
      scheduled: !input.cutoff && !!scheduled,
      // A live demo source (the sample's) is appended up to the scheduled time before extraction.
      ...(!input.cutoff && scheduled ? { liveUntil: scheduled.toISOString() } : {}),
      // A rerun of a backfill's run plans it as the backtest it was, so the same inputs give the same key.
      backtest: input.trigger === 'backfill',
      ...(input.sourcesDir ? { sourcesDir: input.sourcesDir } : {}),
    })
  )[0];
  if (!input.rerun) return plan;
  // A rerun runs under its own id; the origin's results before `from` are linked in when the inputs are the same.
  const { run, rerun } = await io.prepareRerun({
    planned: plan.run,
    of: input.rerun.of,
    from: input.rerun.from,
    hasPublish: !!input.rerun.publish,
    nonce: plan.plannedAt,
  });
  return { ...plan, run, rerun };
}

/** Plans for several cutoffs of one pipeline (a backfill): one extraction, every id keyed on the same contents. */
export async function planRuns(
  pipeline: string,
  cutoffs: (string | undefined)[],
  step: (name: string) => void = () => {},
  overrides: {
    replaceIncomparable?: boolean;
    acceptDrift?: boolean;
    backtest?: boolean;
    scheduled?: boolean;
    liveUntil?: string;
    /** The definition's sources folder when it travels by content (RunInput.sourcesDir). */
    sourcesDir?: string;
  } = {},
): Promise<RunPlan[]> {
  const plannedAt = new Date().toISOString();
  step('definition');
  let loaded = await io.loadDefinition({
    pipeline,
    ...(overrides.sourcesDir ? { sourcesDir: overrides.sourcesDir } : {}),
  });
  // `run --replace-incomparable` is the definition's registry.replaceIncomparable for this run: part of the run's
  // key, so it is a new run whose gate may replace the champion, not the finished run that kept it.
  if (overrides.replaceIncomparable) {
    const def = loaded.definition;
    loaded = { ...loaded, definition: { ...def, registry: { ...def.registry, replaceIncomparable: true } } };
  }
  // `run --accept-drift` likewise: drift.accept for this run (a new run, since the blocked one stays blocked).
  if (overrides.acceptDrift)
    loaded = { ...loaded, definition: { ...loaded.definition, drift: { ...loaded.definition.drift, accept: true } } };
  step('extract');
  const extract = await io.extractSources({
    loaded,
    ...(overrides.liveUntil ? { liveUntil: overrides.liveUntil } : {}),
  });
  // One cutoff resolves through resolveCutoff, the activity retrain workflows have always called at this point, so
  // runs started before content keys still replay after an upgrade.
  const runs =
    cutoffs.length === 1
      ? [
          await io.resolveCutoff({
            loaded,
            cutoff: cutoffs[0],
            ...(overrides.backtest ? { backtest: true } : {}),
            ...(overrides.scheduled ? { scheduled: true } : {}),
          }),
        ]
      : await io.resolveRuns({ loaded, cutoffs, ...(overrides.backtest ? { backtest: true } : {}) });
  return runs.map((run) => ({ plannedAt, loaded, extract, run }));
}

/**
 * A finished run answers a request with the same id when it produced what is asked: a train-only request is
 * answered by any finished run; a full one needs the scores and lists (a train-only run is completed in place,
 * reusing its trained models).
 */
export function answers(finished: RunSummary | undefined, trainOnly: boolean | undefined): boolean {
  return !!finished && (!!trainOnly || finished.scoring !== null);
}
