/**
 * The uplift step of a run: for each campaign that ranks by uplift (`rankBy: "uplift"`), a T-learner (a forest per
 * arm, lift/uplift-models.ts) trained on the measured sends of that campaign (lift/sends.ts), evaluated on the
 * sends' held-out users (30 %, by a hash of the user id) with the Qini coefficient, AUUC and uplift@30 % beside
 * the propensity ranking that made those lists, then used to score every user at this run's cutoff. The scores
 * (`uplift/uplift.parquet`: user_id, campaign, uplift) order the campaign's list (segments/export-list.ts); the
 * model is the one evaluated (fit on the 70 %), so the figures describe what ranks the list. No Temporal.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineDefinition } from '../pipelines/schema';
import { writeJsonAtomic } from '../infra/atomic';
import { quoteLiteral } from '../warehouse/db';
import { readFeatureTable, type FeatureEncoding } from '../warehouse/matrix';
import { writeColumnsToParquet } from '../warehouse/parquet';
import { selectLabels, selectRows } from '../ml/classifier';
import { fitTLearner, type UpliftScorer } from './uplift-models';
import { qiniCoefficient, upliftAtK, upliftAuc } from './uplift-metrics';
import { measuredSends, sendRowsSql, sharedColumns, type MeasuredSend } from './sends';

export class UpliftInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** The forest settings of the uplift models: shallow, large leaves (an effect is a difference of two noisy rates). */
export const UPLIFT_FOREST = { nTrees: 100, maxDepth: 6, minSamplesLeaf: 40 };
const HOLDOUT = 0.3;
/** At most this many users of a campaign's sends train and evaluate its model (a seeded reservoir sample beyond). */
export const MAX_UPLIFT_ROWS = 300_000;

export interface UpliftEvaluation {
  users: number;
  treated: number;
  /** Normalised as scikit-uplift's qini_auc_score / uplift_auc_score; uplift@30 % in rate points. */
  qini: number;
  auuc: number;
  upliftAt30: number;
}

export interface CampaignUpliftModel {
  campaign: string;
  model: 't_learner';
  sends: { runId: string; cutoff: string; treatment: number; control: number }[];
  trainUsers: number;
  /** On the sends' held-out users: this model, and the propensity ranking the lists were made with. */
  holdout: UpliftEvaluation;
  propensityHoldout: UpliftEvaluation | null;
  /** Revenue per conversion of the treated users in the sends' windows (prices label_revenue predictions). */
  revenuePerConversion: number | null;
  /** Users scored at this run's cutoff and their mean predicted uplift. */
  scored: number;
  meanUplift: number;
}

export interface RunUplift {
  /** user_id, campaign, uplift for every user at the cutoff and every campaign ranked by uplift. */
  path: string;
  reportPath: string;
  campaigns: CampaignUpliftModel[];
}

/** What a campaign that ranks by uplift needs, said as the definition check does (bad input, exit 3). */
export function noMeasuredSendMessage(def: PipelineDefinition, index: number): string {
  const c = def.campaigns[index];
  return (
    `campaigns[${index}] "${c.name}": rankBy "uplift" needs at least one measured send of this campaign and there is none: ` +
    `send it first with another rankBy (e.g. "propensity") and a control group (control.share > 0, it is ${c.control.share}), ` +
    `then run at a cutoff after its measurement window (${c.measureWindow ?? def.label.horizon}) has passed in the loaded data`
  );
}

const holdoutFraction = (user: string) =>
  parseInt(createHash('sha256').update(`uplift-holdout\u001f${user}`).digest('hex').slice(0, 8), 16) / 2 ** 32;

function evaluate(y: Uint8Array, t: Uint8Array, score: ArrayLike<number>): UpliftEvaluation {
  let treated = 0;
  for (const v of t) treated += v;
  return {
    users: y.length,
    treated,
    qini: qiniCoefficient(y, t, score),
    auuc: upliftAuc(y, t, score),
    upliftAt30: upliftAtK(y, t, score, 0.3),
  };
}

interface SendTable {
  x: Awaited<ReturnType<typeof readFeatureTable>>['x'];
  encoding: FeatureEncoding;
  ids: string[];
  y: Uint8Array;
  t: Uint8Array;
  propensity: Float64Array;
  revenuePerConversion: number | null;
}

/** The sends' rows as matrices: features, outcome, arm, and the propensity that ranked them (same row order). */
async function readSends(conn: DuckDBConnection, file: string): Promise<SendTable> {
  const table = await readFeatureTable(conn, file, {
    label: '__converted',
    idColumn: 'user_id',
    exclude: ['__run', '__campaign', '__treated', '__revenue', '__propensity'],
  });
  const rows = (
    await conn.runAndReadAll(`SELECT user_id, __treated, __propensity FROM read_parquet(${quoteLiteral(file)})`)
  ).getRows();
  if (rows.some((r, i) => String(r[0]) !== table.ids[i])) throw new Error(`${file}: rows read in another order`);
  const [rev] = (
    await conn.runAndReadAll(
      `SELECT avg(__revenue) FILTER (WHERE __converted = 1 AND __treated = 1) FROM read_parquet(${quoteLiteral(file)})`,
    )
  ).getRows();
  return {
    x: table.x,
    encoding: table.encoding,
    ids: table.ids,
    y: table.y!,
    t: Uint8Array.from(rows, (r) => Number(r[1])),
    propensity: Float64Array.from(rows, (r) => (r[2] === null ? NaN : Number(r[2]))),
    revenuePerConversion: rev[0] === null ? null : Number(rev[0]),
  };
}

/** Trains and evaluates one campaign's model on its sends; returns the model's scorer and its record. */
async function fitCampaign(
  conn: DuckDBConnection,
  x: { def: PipelineDefinition; sends: MeasuredSend[]; columns: string[]; dir: string; campaign: string },
): Promise<{
  score: UpliftScorer;
  encoding: FeatureEncoding;
  record: Omit<CampaignUpliftModel, 'scored' | 'meanUplift'>;
}> {
  const file = join(x.dir, `sends-${x.campaign}.parquet`);
  const rows = `SELECT * FROM (${sendRowsSql(x.sends, x.columns, x.def.label.event)}) USING SAMPLE reservoir(${MAX_UPLIFT_ROWS} ROWS) REPEATABLE (${x.def.model.seed})`;
  // In a fixed order: the forests' draws are by row index, so the same sends give the same model.
  await conn.run(`COPY (${rows} ORDER BY __run, user_id) TO ${quoteLiteral(file)} (FORMAT parquet)`);
  try {
    const d = await readSends(conn, file);
    const test = d.ids.map((u, i) => (holdoutFraction(u) < HOLDOUT ? i : -1)).filter((i) => i >= 0);
    const inTest = new Set(test);
    const train = d.ids.map((_, i) => i).filter((i) => !inTest.has(i));
    const score = await fitTLearner(
      { x: selectRows(d.x, train), y: selectLabels(d.y, train), t: selectLabels(d.t, train) },
      UPLIFT_FOREST,
      x.def.model.seed,
    );
    const [yT, tT] = [selectLabels(d.y, test), selectLabels(d.t, test)];
    const propensity = test.map((i) => d.propensity[i]);
    return {
      score,
      encoding: d.encoding,
      record: {
        campaign: x.campaign,
        model: 't_learner',
        sends: x.sends.map((s) => ({ runId: s.runId, cutoff: s.cutoff, treatment: s.treatment, control: s.control })),
        trainUsers: train.length,
        holdout: evaluate(yT, tT, score(selectRows(d.x, test))),
        propensityHoldout: propensity.every(Number.isFinite) ? evaluate(yT, tT, propensity) : null,
        revenuePerConversion: d.revenuePerConversion,
      },
    };
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Trains, evaluates and scores with an uplift model for every campaign of `def` that ranks by uplift; null when
 * none does. A campaign without a measured send is bad input naming what it needs (noMeasuredSendMessage).
 */
export async function trainRunUplift(
  conn: DuckDBConnection,
  x: { def: PipelineDefinition; runId: string; runDir: string; runsDir: string; featuresPath: string },
): Promise<RunUplift | null> {
  const wanted = x.def.campaigns.map((c, i) => ({ c, i })).filter(({ c }) => c.rankBy === 'uplift');
  if (!wanted.length) return null;
  const sends = wanted.map(({ c }) => measuredSends(x.runsDir, x.runId, c.name));
  const missing = wanted.filter((_, k) => !sends[k].length);
  if (missing.length) throw new UpliftInputError(missing.map(({ i }) => noMeasuredSendMessage(x.def, i)).join('; '));
  const dir = join(x.runDir, 'uplift');
  mkdirSync(dir, { recursive: true });
  const out = { user_id: [] as string[], campaign: [] as string[], uplift: [] as number[] };
  const campaigns: CampaignUpliftModel[] = [];
  for (const [k, { c }] of wanted.entries()) {
    const columns = await sharedColumns(conn, x.featuresPath, sends[k]);
    const fit = await fitCampaign(conn, { def: x.def, sends: sends[k], columns, dir, campaign: c.name });
    const now = await readFeatureTable(conn, x.featuresPath, { idColumn: 'user_id', encoding: fit.encoding });
    const u = fit.score(now.x);
    for (let i = 0; i < u.length; i++) {
      out.user_id.push(now.ids[i]);
      out.campaign.push(c.name);
      out.uplift.push(u[i]);
    }
    campaigns.push({ ...fit.record, scored: u.length, meanUplift: u.reduce((a, v) => a + v, 0) / (u.length || 1) });
  }
  const path = join(dir, 'uplift.parquet');
  await writeColumnsToParquet(conn, path, [
    { name: 'user_id', type: 'VARCHAR', values: out.user_id },
    { name: 'campaign', type: 'VARCHAR', values: out.campaign },
    { name: 'uplift', type: 'DOUBLE', values: out.uplift },
  ]);
  const result: RunUplift = { path, reportPath: join(dir, 'uplift.json'), campaigns };
  writeJsonAtomic(result.reportPath, result);
  return result;
}
