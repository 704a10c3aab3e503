/**
 * Measuring one run's delivered campaigns against the loaded data: for each campaign of the run's exports
 * manifest, its assignment file (segments/control.ts) gives the arms, the warehouse's events give who converted
 * (the label event) and what they spent in the measurement window [cutoff, cutoff + window). The result is written
 * beside the run's exports (`exports/measurement.json`) and into the warehouse's `campaign_results` table.
 * No Temporal here: activities/measure.ts and cli/measure.ts call it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CampaignEconomics, PipelineDefinition } from '../pipelines/schema';
import { durationMs } from '../pipelines/schema';
import { writeJsonAtomic } from '../infra/atomic';
import { measureLift, type ArmOutcome, type LiftResult } from './measure';
import { storeResults } from './results';

export class MeasureInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface CampaignMeasurement {
  campaign: string;
  action: string;
  status: 'measured' | 'pending' | 'no_control';
  /** Why there is no lift (pending: when it can be measured; no_control: no control group). */
  reason: string | null;
  window: { from: string; to: string; length: string };
  control: { share: number; users: number };
  delivered: number;
  economics: CampaignEconomics | null;
  result: LiftResult | null;
}

export interface RunMeasurement {
  runId: string;
  pipeline: string;
  cutoff: string;
  /** The last event in the loaded data: windows ending after it cannot be measured yet. */
  dataEnd: string | null;
  measuredAt: string;
  campaigns: CampaignMeasurement[];
  path: string;
}

interface ManifestCampaign {
  name: string;
  kind?: string;
  action: string;
  rows: number;
  control?: { share: number; rows: number; file: string | null };
  measurement?: { window: string; economics: CampaignEconomics | null };
}

/** The arms' conversions and revenue per user in [from, to), from the assignments and the events. */
async function armOutcomes(
  conn: DuckDBConnection,
  assignments: string,
  label: string,
  from: string,
  to: string,
  economics: CampaignEconomics | null,
): Promise<Record<string, ArmOutcome>> {
  const perUser =
    economics && economics.value !== 'label_revenue'
      ? `CASE WHEN o.user_id IS NULL THEN 0 ELSE ${Number(economics.value)} END`
      : 'coalesce(o.revenue, 0)';
  const r = await conn.runAndReadAll(
    `WITH a AS (SELECT user_id, arm FROM read_parquet($assignments)),
          o AS (SELECT user_id, sum(coalesce(revenue, 0)) AS revenue FROM events
                WHERE event = $label AND ts >= CAST($from AS TIMESTAMP) AND ts < CAST($to AS TIMESTAMP)
                  AND user_id IN (SELECT user_id FROM a) GROUP BY user_id),
          v AS (SELECT a.arm, o.user_id IS NOT NULL AS converted, ${perUser} AS value FROM a LEFT JOIN o USING (user_id))
     SELECT arm, count(*), count(*) FILTER (WHERE converted), sum(value), sum(value * value) FROM v GROUP BY arm`,
    { assignments, label, from, to },
  );
  const out: Record<string, ArmOutcome> = {};
  for (const [armName, n, x, sum, sumSq] of r.getRows())
    out[String(armName)] = {
      users: Number(n),
      conversions: Number(x),
      revenue: { n: Number(n), sum: Number(sum), sumSq: Number(sumSq) },
    };
  return out;
}

async function measureCampaign(
  conn: DuckDBConnection,
  x: { def: PipelineDefinition; runDir: string; cutoff: string; dataEnd: string | null },
  c: ManifestCampaign,
): Promise<CampaignMeasurement> {
  const spec = x.def.campaigns.find((d) => d.name === c.name);
  // What the run recorded wins: a later edit of the definition does not change how a past send is measured.
  const length = c.measurement?.window ?? spec?.measureWindow ?? x.def.label.horizon;
  const economics = c.measurement ? c.measurement.economics : (spec?.economics ?? null);
  const from = new Date(x.cutoff).toISOString();
  const to = new Date(Date.parse(from) + durationMs(length)).toISOString();
  const base = {
    campaign: c.name,
    action: c.action,
    window: { from, to, length },
    control: { share: c.control?.share ?? 0, users: c.control?.rows ?? 0 },
    delivered: c.rows,
    economics,
    result: null,
  };
  const assignments = join(x.runDir, 'assignments', `${c.name}.parquet`);
  if (!c.control || c.control.share <= 0 || !existsSync(assignments))
    return {
      ...base,
      status: 'no_control',
      reason: c.control
        ? 'no control group (control.share is 0): lift cannot be measured'
        : 'no control group (the run was made before campaigns held one out): lift cannot be measured',
    };
  // The window has passed in the loaded data when an event at or after its end was loaded.
  if (!x.dataEnd || Date.parse(x.dataEnd) < Date.parse(to))
    return {
      ...base,
      status: 'pending',
      reason: `the ${length} window ends ${to}; the loaded data ends ${x.dataEnd ?? '(no events)'}: it can be measured once events up to ${to} are loaded`,
    };
  const arms = await armOutcomes(conn, assignments, x.def.label.event, from, to, economics);
  if (!arms.control?.users || !arms.treatment?.users)
    return {
      ...base,
      status: 'no_control',
      reason: 'the control group or the delivered list is empty: lift cannot be measured',
    };
  return {
    ...base,
    status: 'measured',
    reason: null,
    result: measureLift(arms.treatment, arms.control, economics ?? undefined),
  };
}

/** Measures every campaign of the run `runId` (folder `runDir`); an error naming the run when it has no exports. */
export async function measureRun(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  runId: string,
  runDir: string,
): Promise<RunMeasurement> {
  const manifestPath = join(runDir, 'exports', 'manifest.json');
  if (!existsSync(manifestPath))
    throw new MeasureInputError(
      `run ${runId} has no delivered campaign lists (no ${manifestPath}): it trained only or stopped before its exports; measure a run that exported its lists`,
    );
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { cutoff: string; campaigns: ManifestCampaign[] };
  const end = (await conn.runAndReadAll(`SELECT CAST(max(ts) AS VARCHAR) FROM events`)).getRows()[0][0];
  const dataEnd = end === null ? null : new Date(`${String(end).replace(' ', 'T')}Z`).toISOString();
  const campaigns: CampaignMeasurement[] = [];
  for (const c of manifest.campaigns.filter((m) => (m.kind ?? 'campaign') === 'campaign'))
    campaigns.push(await measureCampaign(conn, { def, runDir, cutoff: manifest.cutoff, dataEnd }, c));
  const out: RunMeasurement = {
    runId,
    pipeline: def.name,
    cutoff: manifest.cutoff,
    dataEnd,
    measuredAt: new Date().toISOString(),
    campaigns,
    path: join(runDir, 'exports', 'measurement.json'),
  };
  writeJsonAtomic(out.path, out);
  await storeResults(conn, out);
  return out;
}
