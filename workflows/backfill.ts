/**
 * Backfill: the retrain pipeline for each past cutoff, as child workflows with predictable ids
 * (`retrain-<pipeline>-<cutoff>`), at most `concurrency` at a time. Cutoffs whose run already finished are
 * not run again, so re-running a backfill adds nothing; the result is the per-cutoff metrics table (how the
 * model would have performed over time).
 */
import {
  ParentClosePolicy,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RunSummary } from './types';
import { retrainWorkflow } from './retrain';

export interface BackfillInput {
  pipeline: string;
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
  error?: string;
}

export interface BackfillProgress {
  total: number;
  done: number;
  running: string[];
}

export const backfillProgressQuery = defineQuery<BackfillProgress>('progress');

const io = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5 } });

export function childWorkflowId(pipelineName: string, cutoff: string): string {
  const stamp = new Date(cutoff)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `retrain-${pipelineName}-${stamp}`;
}

export async function backfillWorkflow(input: BackfillInput): Promise<BackfillRow[]> {
  const loaded = await io.loadDefinition({ pipeline: input.pipeline });
  const name = loaded.definition.name;
  const already = await io.findCompletedRuns({ pipeline: name, cutoffs: input.cutoffs });
  const progress: BackfillProgress = { total: input.cutoffs.length, done: 0, running: [] };
  setHandler(backfillProgressQuery, () => progress);

  const rows = new Map<string, BackfillRow>();
  const toRun: string[] = [];
  for (const cutoff of input.cutoffs) {
    const prev = already[cutoff];
    if (prev) {
      rows.set(cutoff, row(cutoff, prev, 'skipped (already done)'));
      progress.done++;
    } else toRun.push(cutoff);
  }

  // Bounded concurrency: a sliding window of `concurrency` children.
  const queue = [...toRun];
  const worker = async () => {
    for (let cutoff = queue.shift(); cutoff !== undefined; cutoff = queue.shift()) {
      const id = childWorkflowId(name, cutoff);
      progress.running.push(cutoff);
      try {
        const summary = await executeChild(retrainWorkflow, {
          workflowId: id,
          args: [{ pipeline: input.pipeline, cutoff, trigger: 'backfill', trainOnly: input.trainOnly }],
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          taskQueue: workflowInfo().taskQueue,
        });
        rows.set(cutoff, row(cutoff, summary, 'done'));
      } catch (e) {
        const cause = (e as { cause?: Error }).cause ?? (e as Error);
        rows.set(cutoff, { ...emptyRow(cutoff, id), status: 'failed', error: cause.message });
      } finally {
        progress.running = progress.running.filter((c) => c !== cutoff);
        progress.done++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, toRun.length)) }, worker));
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
  };
}
