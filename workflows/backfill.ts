/**
 * Backfill: the retrain pipeline for each past cutoff, as child workflows whose ids are the runs' content-addressed
 * ids (`<pipeline>-<cutoff>-<key>`, workflows/plan.ts), at most `concurrency` at a time. The sources are extracted
 * once, then every cutoff is resolved against the same warehouse contents. A cutoff is skipped only when the run
 * with the same id (same definition, data and cutoff) already finished, so repeating a backfill adds nothing while
 * a backfill of another definition (another engine, other parameters) or after new data runs again.
 */
import { ParentClosePolicy, defineQuery, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { routed } from './proxies';
import type { RunSummary } from './types';
import { retrainWorkflow } from './retrain';
import { answers, planRuns } from './plan';
import { tagWorkflow, withOutcome } from './tags';

export interface BackfillInput {
  pipeline: string;
  /** As RunInput.sourcesDir: the folder of a definition that travels by content. */
  sourcesDir?: string;
  /** ISO cutoffs, oldest first (the client expands --from/--to/--every). */
  cutoffs: string[];
  concurrency: number;
  trainOnly?: boolean;
}

export interface BackfillRow {
  cutoff: string;
  runId: string;
  status: 'done' | 'skipped (already done)' | 'failed';
  users: number | null;
  labelRate: number | null;
  rocAuc: number | null;
  prAuc: number | null;
  modelVersion: string | null;
  /**
   * Each campaign list's expected conversions (sum of calibrated propensities, within the horizon) and, the cutoff
   * being past, how many of its users did convert: the backtest of the lists.
   */
  lists?: { campaign: string; users: number; expected: number; realised: number | null }[];
  error?: string;
}

export interface BackfillProgress {
  /** planning: one extraction and every cutoff's run id; running: the children; done: all finished. */
  phase: 'planning' | 'running' | 'done';
  total: number;
  /** Cutoffs finished (run, skipped or failed). */
  done: number;
  failed: number;
  skipped: number;
  /** Cutoffs whose run is in progress. */
  running: string[];
  /** Cutoff → run id, once planned: the CLI asks each running child for its own step. */
  runIds: Record<string, string>;
}

export const backfillProgressQuery = defineQuery<BackfillProgress>('progress');

const io = routed({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5 } });

export async function backfillWorkflow(input: BackfillInput): Promise<BackfillRow[]> {
  return withOutcome(() => backfillSteps(input));
}

async function backfillSteps(input: BackfillInput): Promise<BackfillRow[]> {
  const progress: BackfillProgress = {
    phase: 'planning',
    total: input.cutoffs.length,
    done: 0,
    failed: 0,
    skipped: 0,
    running: [],
    runIds: {},
  };
  setHandler(backfillProgressQuery, () => progress);
  // Backtests: keyed apart from live runs of the same content, so neither answers for the other.
  const sources = input.sourcesDir ? { sourcesDir: input.sourcesDir } : {};
  const planned = await planRuns(input.pipeline, input.cutoffs, undefined, { backtest: true, ...sources });
  input.cutoffs.forEach((c, i) => (progress.runIds[c] = planned[i].run.runId));
  const name = planned[0].loaded.definition.name;
  tagWorkflow({ pipeline: name, kind: 'backfill', engine: planned[0].loaded.definition.model.engine });
  const plans = new Map(input.cutoffs.map((c, i) => [c, planned[i]]));
  const already = await io.findCompletedRuns({ pipeline: name, runIds: planned.map((p) => p.run.runId) });

  const rows = new Map<string, BackfillRow>();
  const toRun: string[] = [];
  for (const [cutoff, plan] of plans) {
    const prev = already[plan.run.runId];
    if (answers(prev, input.trainOnly)) {
      rows.set(cutoff, row(cutoff, prev, 'skipped (already done)'));
      progress.done++;
      progress.skipped++;
    } else toRun.push(cutoff);
  }

  // Bounded concurrency: a sliding window of `concurrency` children.
  progress.phase = 'running';
  const queue = [...toRun];
  const worker = async () => {
    for (let cutoff = queue.shift(); cutoff !== undefined; cutoff = queue.shift()) {
      // Its duration starts now, not when the shared extraction began (children wait for a free slot).
      const plan = { ...plans.get(cutoff)!, plannedAt: new Date().toISOString() };
      const id = plan.run.runId;
      progress.running.push(cutoff);
      try {
        const summary = await executeChild(retrainWorkflow, {
          workflowId: id,
          args: [
            { pipeline: input.pipeline, ...sources, cutoff, trigger: 'backfill', trainOnly: input.trainOnly, plan },
          ],
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          taskQueue: workflowInfo().taskQueue,
        });
        rows.set(cutoff, row(cutoff, summary, 'done'));
      } catch (e) {
        const cause = (e as { cause?: Error }).cause ?? (e as Error);
        const error =
          e instanceof WorkflowExecutionAlreadyStartedError
            ? `run ${id} is already running (started by another command): follow it with funnelcast status ${id}`
            : cause.message;
        rows.set(cutoff, { ...emptyRow(cutoff, id), status: 'failed', error });
        progress.failed++;
      } finally {
        progress.running = progress.running.filter((c) => c !== cutoff);
        progress.done++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, toRun.length)) }, worker));
  progress.phase = 'done';
  return input.cutoffs.map((c) => rows.get(c)!);
}

function emptyRow(cutoff: string, runId: string): BackfillRow {
  return { cutoff, runId, status: 'done', users: null, labelRate: null, rocAuc: null, prAuc: null, modelVersion: null };
}

function row(cutoff: string, s: RunSummary, status: BackfillRow['status']): BackfillRow {
  return {
    cutoff,
    runId: s.runId,
    status,
    users: s.features.users,
    labelRate: s.features.labelRate,
    rocAuc: s.model.holdout?.roc_auc ?? null,
    prAuc: s.model.holdout?.pr_auc ?? null,
    modelVersion: s.publish?.version ?? null,
    lists: s.exports.map((e) => ({
      campaign: e.campaign,
      users: e.rows,
      expected: e.expectedConversions,
      realised: e.realisedConversions ?? null,
    })),
  };
}
