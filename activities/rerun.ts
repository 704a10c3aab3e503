/**
 * `funnelcast rerun <run> --from <step>`: the rerun's own id and folder, and the origin's finished results of the
 * steps before `from` linked into it, so those steps return them instead of computing again. Only when the rerun's
 * inputs are the origin's (the same content-addressed run key: definition, data, cutoff, code): a result computed
 * from other inputs is never reused.
 */
import { createHash } from 'node:crypto';
import { existsSync, linkSync, copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ResolvedRun } from './definition';
import { writeJsonAtomic } from '../infra/atomic';
import { RERUN_STEPS, type RerunPlan, type RerunStep } from '../workflows/types';

export interface PrepareRerunInput {
  /** The run as planned now (its key covers the current definition and data). */
  planned: ResolvedRun;
  of: string;
  from: RerunStep;
  /** The origin's publish result was found in its history. */
  hasPublish: boolean;
  /** Makes each rerun a new run (workflow time of the planning). */
  nonce: string;
}

const before = (step: RerunStep, from: RerunStep) => RERUN_STEPS.indexOf(step) < RERUN_STEPS.indexOf(from);

/** A training result file belongs to the cross-validate step (folds) or to the train step (holdout models). */
const stepOfModelFile = (name: string): RerunStep => (/-fold\d+of\d+\./.test(name) ? 'cross-validate' : 'train');

export async function prepareRerun(input: PrepareRerunInput): Promise<{ run: ResolvedRun; rerun: RerunPlan }> {
  const { planned, of, from } = input;
  const parent = dirname(planned.runDir);
  const key = createHash('sha256').update(`${of}\n${from}\n${input.nonce}`).digest('hex').slice(0, 10);
  const runId = `${planned.runId.replace(/-[0-9a-f]+$/, '')}-${key}`;
  const run: ResolvedRun = { ...planned, key, runId, runDir: join(parent, runId) };
  mkdirSync(run.runDir, { recursive: true });
  const originDir = join(parent, of);
  if (planned.runId !== of || !existsSync(originDir)) {
    const why = existsSync(originDir)
      ? `its inputs changed since ${of} (the run key now is ${planned.key}: definition, data or code differ)`
      : `the folder of ${of} is gone`;
    return { run, rerun: { of, from, reused: [], note: `nothing reused: ${why}; every step re-executed` } };
  }
  const reused = new Set<RerunStep>();
  const models = join(originDir, 'models');
  if (existsSync(models)) {
    mkdirSync(join(run.runDir, 'models'), { recursive: true });
    for (const name of readdirSync(models)) {
      const step = stepOfModelFile(name);
      if (!before(step, from) || name.includes('.tmp')) continue;
      const src = join(models, name);
      const dst = join(run.runDir, 'models', name);
      if (name.endsWith('.result.json')) {
        // The result names its model and predictions by path: point it at the rerun's own links.
        writeJsonAtomic(dst, JSON.parse(readFileSync(src, 'utf8').split(originDir).join(run.runDir)));
        reused.add(step);
      } else link(src, dst);
    }
  }
  if (input.hasPublish && before('publish', from)) reused.add('publish');
  const steps = RERUN_STEPS.filter((s) => reused.has(s));
  const note = steps.length
    ? `reused ${steps.join(', ')} of ${of} (same inputs); re-executed from ${from}`
    : `nothing of ${of} to reuse before ${from}; re-executed from ${from}`;
  return { run, rerun: { of, from, reused: steps, note } };
}

/** Finished artifacts are immutable: a hard link shares them; another filesystem gets a copy. */
function link(src: string, dst: string): void {
  if (existsSync(dst)) return;
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}
