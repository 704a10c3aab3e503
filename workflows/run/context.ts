/**
 * What every step of a run shares inside the workflow: the activity proxies (I/O and CPU queues, with the worker's
 * event-loop delay recorded under the step that called them) and the progress the `progress` query returns.
 */
import type { Activities } from '../../activities';
import { cpuOptions, ioOptions, measured, routed } from '../proxies';
import type { RunInput, RunSummary, StepProgress } from '../types';

export const STEPS = [
  'definition',
  'extract',
  'features',
  'cross-validate',
  'train',
  'publish',
  'score',
  'segments',
  'report',
];

export interface RunContext {
  io: Activities;
  training: Activities;
  progress: StepProgress;
  /** The CPU queue's trainModel with a one-line summary the Web UI shows ("fold 2/5 · forest"). */
  trainAs(summary: string): Activities['trainModel'];
  eventLoop: NonNullable<RunSummary['eventLoop']>;
  /** Enters a step: what `status` and the progress query show. */
  step(name: string, detail?: string): void;
}

export function runContext(input: RunInput): RunContext {
  const startedMs = input.plan ? Date.parse(input.plan.plannedAt) : Date.now();
  const progress: StepProgress = {
    runId: null,
    pipeline: input.pipeline,
    cutoff: input.cutoff ?? null,
    step: 'starting',
    stepsDone: 0,
    stepsTotal: STEPS.length,
    detail: '',
    rows: 0,
    foldsDone: 0,
    foldsTotal: 0,
    startedAt: new Date(startedMs).toISOString(),
    history: [],
  };
  const eventLoop: RunContext['eventLoop'] = { maxDelayMs: 0, byStep: {} };
  // Recorded under the step current when the activity was called.
  const begin = () => {
    const current = progress.step;
    return (ms: number) => {
      eventLoop.maxDelayMs = Math.max(eventLoop.maxDelayMs, ms);
      eventLoop.byStep[current] = Math.max(eventLoop.byStep[current] ?? 0, ms);
    };
  };
  return {
    io: measured(routed(ioOptions), begin),
    training: measured(routed(cpuOptions()), begin),
    trainAs: (summary) => measured(routed({ ...cpuOptions(), summary }), begin).trainModel,
    progress,
    eventLoop,
    step: (name, detail = '') => {
      progress.step = name;
      progress.detail = detail;
      progress.stepsDone = Math.max(0, STEPS.indexOf(name));
      progress.history.push({ step: name, at: new Date().toISOString(), detail });
    },
  };
}
