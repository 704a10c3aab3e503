/**
 * `funnelcast run`: runs the retraining pipeline once as a Temporal workflow and prints what it produced.
 */
import { backtestWords, controlSplitWords, measuredLine, nextBestActionLines, upliftLines } from '../lift/words';
import { parseArgs } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { loadPipeline } from '../pipelines/load';
import { durationMs } from '../pipelines/schema';
import { TASK_QUEUE } from '../infra/temporal';
import { cutoffStamp } from '../infra/paths';
import type { RunInput, RunSummary, StartedRun, StepProgress } from '../workflows/types';
import { InterruptedError, withSession } from './session';
import { parseDateOption } from './dates';
import { EXIT, int, num, pct, progressBar, isTty, print } from './format';
import { forPeople, portableDefinition } from './edge';
import { trainingSampleWords } from '../ml/downsample';

export const RUN_HELP = `Usage: funnelcast run [--pipeline <name|file>] [--cutoff <ISO date>] [--json] [--train-only] [--replace-incomparable] [--accept-drift]

Runs the whole pipeline once: extract → features at the cutoff → cross-validate → train → publish a model
version → score users → segments and campaign exports → HTML report.

The run id it prints, <pipeline>-<cutoff>-<key>, is keyed by the definition, the loaded data and the cutoff:
the same inputs are the same run (a finished run is returned, a running one followed), any change is a new
run. \`funnelcast status <run id>\` and \`funnelcast cancel <run id>\` take it.

Options:
  --pipeline <name|file>  a bundled pipeline (pipelines/<name>.json) or a definition file   [default: sample]
  --cutoff <ISO date>     feature cutoff; labels come from [cutoff, cutoff + horizon)        [default: the pipeline's]
  --train-only            stop after publishing the model (no scoring or exports)
  --replace-incomparable  let this run's model replace a champion that cannot be compared on its held-out
                          users (other features or holdout); recorded in "funnelcast models history"
  --accept-drift          publish and deliver although the drift checks against the champion block (the drift
                          is recorded in "funnelcast models history")
  --json                  print one JSON object (absolute paths included) on stdout
  --no-worker             do not start an in-process worker (workers run elsewhere)

Examples:
  funnelcast run
  funnelcast run --pipeline retailrocket --json
  funnelcast run --pipeline ./my-pipeline.json --cutoff 2024-03-01
`;

/**
 * Workflow id of the short planning workflow (workflows/start.ts) that computes the run's content-addressed id and
 * starts the run under it. Unique per command: two commands plan separately and meet at the same run id.
 */
export function planWorkflowId(pipeline: string, cutoff: string | undefined, nowMs: number): string {
  return `plan-${pipeline}-${cutoff ? cutoffStamp(cutoff) : 'default'}-${nowMs.toString(36)}`;
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      cutoff: { type: 'string' },
      json: { type: 'boolean', default: false },
      'train-only': { type: 'boolean', default: false },
      'replace-incomparable': { type: 'boolean', default: false },
      'accept-drift': { type: 'boolean', default: false },
      'no-worker': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    print(RUN_HELP);
    return EXIT.ok;
  }
  // Validate locally before anything starts: a bad definition is reported in a second, not after a server boot.
  const loaded = loadPipeline(values.pipeline!);
  const cutoff = values.cutoff ? parseDateOption('cutoff', values.cutoff) : undefined;
  const input: RunInput = {
    ...(await portableDefinition(loaded)),
    cutoff,
    trigger: 'cli',
    trainOnly: values['train-only'],
  };
  if (values['replace-incomparable']) input.replaceIncomparable = true;
  if (values['accept-drift']) input.acceptDrift = true;

  let workflowId = planWorkflowId(loaded.definition.name, cutoff, Date.now());
  let stopWatching = async (): Promise<void> => undefined;
  return withSession({ worker: values['no-worker'] ? 'no' : 'auto' }, async ({ client, server }) => {
    try {
      if (!values.json) process.stderr.write(`  … planning (definition, extract, run id)\n`);
      const started = (await client.workflow.execute('startRunWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [{ ...input, wait: false }],
      })) as StartedRun;
      // From here on the run is known by its run id, which is its workflow id.
      workflowId = started.runId;
      if (!values.json && !started.started)
        process.stderr.write(`  … run ${workflowId} ${started.summary ? 'already finished' : 'is already running'}\n`);
      const handle = client.workflow.getHandle(workflowId);
      if (!started.summary) stopWatching = watchProgress(() => handle.query<StepProgress>('progress'), values.json);
      let summary: RunSummary;
      try {
        summary = forPeople(started.summary ?? ((await handle.result()) as RunSummary));
      } finally {
        await stopWatching();
      }
      const ui = server.uiUrl ? `${server.uiUrl}/namespaces/default/workflows/${workflowId}` : null;
      if (values.json) print(JSON.stringify({ workflowId, webUi: ui, ...summary }, null, 2) + '\n');
      else print(formatSummary(summary, ui));
      return EXIT.ok;
    } catch (e) {
      if (e instanceof WorkflowFailedError) {
        const cause = (e.cause as Error | undefined)?.cause ?? e.cause;
        process.stderr.write(`Run ${workflowId} failed: ${forPeople((cause as Error)?.message ?? e.message)}\n`);
        return (cause as { type?: string })?.type &&
          ['NoLabels', 'OneClass', 'InputError', 'PipelineDefinitionError'].includes((cause as { type: string }).type)
          ? EXIT.badInput
          : EXIT.failed;
      }
      throw e;
    }
  }).catch((e: Error) => {
    if (!(e instanceof InterruptedError)) throw e;
    void stopWatching();
    // The workflows are durable: stopping this command keeps what the run finished, and the same command resumes it.
    const what = workflowId.startsWith('plan-')
      ? `run ${workflowId} (still planning) stopped here: the same command plans it again`
      : `run ${workflowId} stopped here with its finished steps kept: the same command resumes it, ` +
        `\`funnelcast cancel ${workflowId}\` drops it`;
    throw new InterruptedError(e.signal, what);
  });
}

/**
 * Live progress on stderr: a bar on a terminal, plain step lines otherwise (logs, CI); nothing with --json. The
 * returned stop waits for a query still in flight: closing the connection under it makes the SDK retry it on a
 * closed channel, which throws "Channel has been shut down" from a timer and kills the process.
 */
export function watchProgress(query: () => Promise<StepProgress>, quiet: boolean): () => Promise<void> {
  if (quiet) return async () => undefined;
  let last = '';
  let stopped = false;
  let inflight: Promise<void> | null = null;
  const tty = Boolean(process.stderr.isTTY) && isTty();
  const tick = async () => {
    try {
      const p = await query();
      if (stopped) return;
      const folds = p.foldsTotal ? ` folds ${p.foldsDone}/${p.foldsTotal}` : '';
      const line = `${p.step}${p.detail ? ` (${p.detail})` : ''}${folds}`;
      if (tty) process.stderr.write(`\r\x1b[2K${progressBar(p.stepsDone, p.stepsTotal)} ${line}`);
      else if (line !== last) process.stderr.write(`  … ${line}\n`);
      last = line;
    } catch {
      // The workflow may not have started its first task yet: try again on the next tick.
    } finally {
      inflight = null;
    }
  };
  // One query at a time, so there is only one to wait for.
  const start = () => void (inflight ??= tick());
  const timer = setInterval(start, 700);
  start();
  return async () => {
    stopped = true;
    clearInterval(timer);
    if (inflight) await Promise.race([inflight, new Promise((r) => setTimeout(r, 15_000).unref())]);
    if (tty) process.stderr.write('\r\x1b[2K');
  };
}

export function formatSummary(s: RunSummary, webUi: string | null): string {
  const m = s.model;
  const h = m.holdout ?? {};
  const lines = [
    `funnelcast run ${s.runId}: pipeline ${s.pipeline}, cutoff ${s.cutoff}, horizon ${s.horizon} (${s.seconds.toFixed(1)} s)`,
    // When the data stops before the cutoff the model trains earlier still, and the cutoff note says why.
    Date.parse(s.cutoff) - Date.parse(s.trainingCutoff) === durationMs(s.horizon)
      ? `  (trained at ${s.trainingCutoff}, one horizon before the cutoff, as a live run on that date would; scored at ${s.cutoff})`
      : `  (trained at ${s.trainingCutoff}; scored at ${s.cutoff})`,
    ...(s.cutoffNote ? [`  (${s.cutoffNote})`] : []),
    ...(s.rerun ? [`  (rerun of ${s.rerun.of} from ${s.rerun.from}: ${s.rerun.note})`] : []),
    '',
    `  extract    read ${int(s.extract.read)} = loaded ${int(s.extract.loaded)} + duplicates ${int(s.extract.duplicates)} + quarantined ${int(s.extract.quarantined)}` +
      `  (${int(s.extract.users)} users, ${int(s.extract.events)} events in ${s.extract.database})`,
    `  features   ${int(s.features.users)} users scored × ${s.features.featureCount} features; trained on ${int(s.features.trainingUsers ?? s.features.users)} users, label rate ${pct(s.features.labelRate)} (${int(s.features.positives)} positives)`,
    `  model      ${m.engine}${m.backend ? ` [${m.backend}]` : ''}: holdout ROC AUC ${num(h.roc_auc)}, PR AUC ${num(h.pr_auc)}, log loss ${num(h.log_loss)}, trained in ${m.trainSeconds.toFixed(1)} s`,
  ];
  lines.push(...modelLines(s), ...outputLines(s), ...deliveryLines(s), ...trailerLines(s, webUi));
  return lines.join('\n') + '\n';
}

/** The model's details under its headline: calibration, CV, selection, baselines, warnings, churn, drift. */
function modelLines(s: RunSummary): string[] {
  const m = s.model;
  const h = m.holdout ?? {};
  const lines: string[] = [];
  const calibration = calibrationSummary(h);
  if (calibration) lines.push(`             ${calibration}`);
  if (m.cv)
    lines.push(
      `             ${m.cv.folds.length}-fold ${m.cv.strategy} CV ROC AUC ${num(m.cv.mean.roc_auc)} ± ${num(m.cv.std.roc_auc)}`,
    );
  if (m.selection) lines.push(selectionLine(m.selection));
  if (m.search) {
    const k = m.search.trials[m.search.chosen];
    lines.push(
      `             search: kept trial ${m.search.chosen} of ${m.search.trials.length} (CV ${m.search.metric} ${num(k.mean)}): ${JSON.stringify(k.params)}`,
    );
  }
  for (const b of m.baselines) {
    lines.push(`             baseline ${b.engine}: holdout ROC AUC ${num(b.metrics?.roc_auc)}`);
    if (b.trainingSample) lines.push(`               ${trainingSampleWords(b.trainingSample)}`);
  }
  const seqs = m.lstmTrainSequences;
  if (seqs && seqs.used < seqs.available)
    lines.push(
      `             LSTM trained on a stratified sample of ${int(seqs.used)} of ${int(seqs.available)} sequences (model.lstm.maxTrainSequences); every user is scored`,
    );
  const ts = m.trainingSample;
  if (ts) lines.push(`             ${trainingSampleWords(ts)}`);
  const f1 = s.publish?.f1;
  if (f1)
    lines.push(
      `             F1 ${num(f1.f1)} (precision ${num(f1.precision)}, recall ${num(f1.recall)}) at threshold ${num(f1.threshold)}: the ${f1.chosenBy}`,
    );
  for (const w of s.publish?.warnings ?? []) lines.push(`  WARNING    ${w.message}`);
  if (m.churn)
    lines.push(
      `  churn      ${m.churn.engine} on ${int(m.churn.users)} customers (churn rate ${pct(m.churn.churnRate)}): ` +
        (m.churn.metrics ? `holdout ROC AUC ${num(m.churn.metrics.roc_auc)}` : (m.churn.note ?? 'not trained')),
    );
  if (s.drift && s.drift.level !== 'ok')
    lines.push(`  drift      ${s.drift.accepted ? 'accepted: ' : ''}${s.drift.message} (${s.drift.reportPath})`);
  const sd = s.drift?.score;
  if (sd && sd.level !== 'ok')
    lines.push(`  drift      scores: ${sd.accepted ? 'accepted: ' : ''}${sd.message} (${sd.reportPath})`);
  return lines;
}

/** What the run wrote: the registry version, the scores, CLV, each campaign's list, measurement and uplift. */
function outputLines(s: RunSummary): string[] {
  const lines: string[] = [];
  if (s.publish) {
    lines.push(`  registry   ${s.publish.version} (${s.publish.kind}): ${s.publish.decision} (${s.publish.reason})`);
    lines.push(`             ${s.publish.versionDir}`);
  }
  if (s.scoring)
    lines.push(
      `  scores     ${int(s.scoring.users)} users scored with ${s.scoring.modelVersion}` +
        `${s.scoring.churnScored ? ` (churn risk for ${int(s.scoring.churnScored)} customers)` : ''}: ${s.scoring.scoresPath}`,
    );
  if (s.clv) lines.push(...clvLines(s.clv));
  for (const e of s.exports) {
    lines.push(
      `  campaign   ${e.campaign}: ${int(e.rows)} users, ~${e.expectedConversions.toFixed(1)} expected conversions within ${s.horizon} of the cutoff (baseline propensity, not incremental)` +
        `${e.realisedConversions != null ? `, ${int(e.realisedConversions)} realised` : ''}, action "${e.action}"`,
    );
    if (e.control) lines.push(`             ${controlSplitWords(e.control, e.rows)}`);
    if (e.backtest) lines.push(`             ${backtestWords(e.backtest)}`);
    lines.push(`             ${e.csvPath}`);
    lines.push(`             ${e.parquetPath}`);
  }
  for (const m of s.measurement ?? []) lines.push(`  measured   ${measuredLine(m)}`);
  for (const l of s.uplift ? upliftLines(s.uplift) : []) lines.push(`  uplift     ${l}`);
  for (const l of s.nextBestAction ? nextBestActionLines(s.nextBestAction) : []) lines.push(`  next best  ${l}`);
  return lines;
}

/** Where the lists went: a folder, a bucket, a webhook. */
function deliveryLines(s: RunSummary): string[] {
  const lines: string[] = [];
  if (s.delivery)
    lines.push(
      s.delivery.delivered
        ? `  delivered  the lists and their manifest to ${s.delivery.dir}`
        : `  delivered  nothing to ${s.delivery.dir}: ${s.delivery.reason}`,
    );
  if (s.bucket)
    lines.push(
      s.bucket.delivered
        ? `  delivered  ${int(s.bucket.objects)} files to the bucket ${s.bucket.bucket} (manifest last)`
        : `  delivered  nothing to the bucket ${s.bucket.bucket}: ${s.bucket.reason}`,
    );
  for (const w of s.webhook ?? [])
    lines.push(
      w.outcome === 'delivered'
        ? `  delivered  ${w.list} to the webhook: ${int(w.rows)} rows in ${int(w.batches)} batches`
        : `  delivered  ${w.list} NOT to the webhook (dead-letter record; funnelcast deliveries): ${w.reason}`,
    );
  return lines;
}

function trailerLines(s: RunSummary, webUi: string | null): string[] {
  const lines: string[] = [];
  if (s.reportPath) lines.push(`  report     ${s.reportPath}`);
  if (s.eventLoop)
    lines.push(
      `  worker     event loop delayed at most ${Math.round(s.eventLoop.maxDelayMs)} ms (` +
        `${Object.entries(s.eventLoop.byStep)
          .map(([step, ms]) => `${step} ${Math.round(ms)}`)
          .join(', ')})`,
    );
  if (s.manifestPath) lines.push(`  manifest   ${s.manifestPath}`);
  if (webUi) lines.push(`  Web UI     ${webUi}`);
  return lines;
}

/**
 * The holdout's calibration in one line: the debiased calibration error (what the ≤ 0.02 target is read on), the
 * plug-in ECE, and the positives against Σp with the range chance alone allows (docs/calibration.md). Null for
 * metrics recorded before these measures existed.
 */
export function calibrationSummary(h: Record<string, number | undefined>): string | null {
  const { ece_debiased: debiased, positives, predicted_to_observed: ratio } = h;
  if (debiased == null || positives == null || ratio == null) return null;
  const sumP = ratio * positives;
  const range = (r: number | undefined) => (r ? String(Math.round(sumP / r)) : '—');
  return (
    `calibration: debiased error ${num(debiased)} (target ≤ 0.02), plug-in ECE ${num(h.ece)}; ` +
    `expected ${sumP.toFixed(1)} positives, ${int(positives)} observed ` +
    `(chance alone: ${range(h.predicted_to_observed_high)}–${range(h.predicted_to_observed_low)} at 90 %)`
  );
}

/** CLV in two lines: what the values are, and how the backtest went (total predicted vs realised purchases). */
function clvLines(c: NonNullable<RunSummary['clv']>): string[] {
  const lines = [
    `  clv        ${int(c.customers)} customers valued over ${c.horizon} (BG/NBD r ${num(c.bgnbd.r)} α ${num(c.bgnbd.alpha)} ` +
      `a ${num(c.bgnbd.a)} b ${num(c.bgnbd.b)}; Gamma-Gamma p ${num(c.gammaGamma.p)} q ${num(c.gammaGamma.q)} v ${num(c.gammaGamma.v)}, ${c.unit}): ${c.clvPath}`,
  ];
  const v = c.validation;
  if (v) {
    const total = (k: 'predicted' | 'actual') => v.buckets.reduce((sum, b) => sum + b[k] * b.customers, 0);
    lines.push(
      `             backtest fitted at ${v.cutoff}: ${total('predicted').toFixed(0)} repeat purchases predicted, ` +
        `${total('actual').toFixed(0)} realised by ${v.until}`,
    );
  }
  return lines;
}

/** engine "auto": which candidate won and by how much, on the cross-validated primary metric. */
function selectionLine(sel: NonNullable<RunSummary['model']['selection']>): string {
  const each = sel.candidates.map((c) => `${c.engine} ${num(c.mean)} ± ${num(c.std)}`).join(', ');
  const skipped = sel.skipped.length
    ? `; not tried within ${sel.budgetSeconds / 60} min: ${sel.skipped.join(', ')}`
    : '';
  return `             auto: chose ${sel.chosen} by CV ${sel.metric} (${each})${skipped}`;
}
