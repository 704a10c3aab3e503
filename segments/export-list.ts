/**
 * One list (a campaign, or a segment list made without a campaign) written from the `segments` table: CSV for
 * people (segments/lists.ts: readable headers, percentages, reasons in words, spreadsheet-safe), Parquet for
 * programs (machine names, exact values), and a README with what the list means.
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CampaignSpec, PipelineDefinition } from '../pipelines/schema';
import { writeFileAtomic } from '../infra/atomic';
import { sha256FileAsync } from '../registry';
import { quoteIdent, quoteLiteral, usedParams } from '../warehouse/db';
import { compileFilter } from './campaigns';
import { csvSafeSelect } from './csv-safe';
import { copyAtomic, humanCsvSelect, listMeaning, listReadme, type ListMeaning } from './lists';
import { writeUploads, type UploadFile } from './upload';
import { fractionColumn, splitControl, type ControlGroup } from './control';

export interface CampaignExport {
  name: string;
  action: string;
  /** Where the list comes from: a campaign of the definition, or one RFM segment / cluster (export.segmentLists). */
  kind: 'campaign' | 'rfm_segment' | 'cluster';
  rows: number;
  expectedConversions: number;
  /** Users on the list who converted in [cutoff, cutoff + horizon): only when those outcomes are known. */
  realisedConversions: number | null;
  meaning: ListMeaning;
  csvPath: string;
  parquetPath: string;
  readmePath: string;
  sha256: { csv: string; parquet: string };
  /** The list in the import formats of export.uploads (Google Ads, Meta, Mailchimp, HubSpot). */
  uploads: UploadFile[];
  /** The held-out users (segments/control.ts): `rows` above counts only the delivered (treatment) users. */
  control: ControlGroup;
  /** At a past cutoff: the list against a random list of the same size and against its own expectation. */
  backtest: ListBacktest | null;
}

export interface ListBacktest {
  /** Share of the list's users who converted in [cutoff, cutoff + horizon). */
  realisedRate: number;
  /** Share of every scored user who converted: what a random list of the same size realises on average. */
  randomRate: number;
  /** realisedRate / randomRate: how much better than a random list the targeting did. */
  liftOverRandom: number | null;
  /** Realised / expected conversions: 1 when the expectation (sum of calibrated propensities) was right. */
  realisedOverExpected: number | null;
}

export interface ListContext {
  definition: PipelineDefinition;
  cutoff: Date;
  outDir: string;
  featuresPath: string;
  modelVersion: string;
  outcomesObserved?: boolean;
  crashBeforeRenameOf?: string;
  /** The exported user id expression over `segments` (a salted hash when export.hashUserIds), and its salt. */
  idExpr: string;
  salt?: string;
  piiCols: string[];
  /** Share of every scored user who converted (a random list's rate), when outcomes are observed: one join per run. */
  randomRate?: number;
}

/** List order (highest first) for each `rankBy`; ties by user id. */
const RANK_ORDER: Record<string, string> = {
  propensity: 'segments.propensity DESC',
  churn_risk: 'segments.churn_risk DESC NULLS LAST',
  clv: 'segments.clv DESC NULLS LAST',
  // The campaign's own predicted uplift (lift/pipeline-uplift.ts), loaded as uplift_scores by buildSegments.
  uplift: `(SELECT u.uplift FROM uplift_scores u WHERE u.user_id = segments.user_id AND u.campaign = $campaign) DESC NULLS LAST`,
};

/** The campaign's users (filter, rank, cap) with their exported columns, as the temp table campaign_rows. */
async function createCampaignRows(
  conn: DuckDBConnection,
  x: ListContext,
  c: CampaignSpec & { kind?: CampaignExport['kind'] },
): Promise<void> {
  const def = x.definition;
  const f = compileFilter(c.filter);
  const frac = fractionColumn(c);
  const params: Record<string, string | number> = {
    ...f.params,
    ...frac.params,
    cutoff: x.cutoff.toISOString(),
    action: c.action,
    campaign: c.name,
    ...(x.salt !== undefined ? { salt: x.salt } : {}),
  };
  const pii = x.piiCols.map(
    (p) =>
      `, (SELECT json_extract_string(attributes, ${quoteLiteral(`$."${p}"`)}) FROM customers cu WHERE cu.user_id = segments.user_id ORDER BY cu.valid_from DESC NULLS LAST LIMIT 1) AS ${quoteIdent(p)}`,
  );
  const select = `SELECT ${x.idExpr} AS user_id, round(propensity, 6) AS propensity,${def.churn ? ' round(churn_risk, 6) AS churn_risk,' : ''}${def.clv ? ' round(clv, 2) AS clv, round(p_alive, 4) AS p_alive, round(expected_purchases, 4) AS expected_purchases,' : ''} rfm_segment, funnel_stage, propensity_decile, cluster,
                    reason_1, reason_2, reason_3, why_1, why_2, why_3, $action AS action, segments.user_id AS __uid, ${frac.sql} AS __frac ${pii.join('')}
                  FROM segments WHERE ${f.sql} ORDER BY ${RANK_ORDER[c.rankBy]}, segments.user_id ${c.cap ? `LIMIT ${c.cap}` : ''}`;
  const sql = `CREATE OR REPLACE TEMP TABLE campaign_rows AS ${select}`;
  await conn.run(sql, usedParams(sql, params));
}

/** Realised conversions of the list and its backtest against a random list, when outcomes are observed. */
async function outcomes(conn: DuckDBConnection, x: ListContext, rows: number, expected: number) {
  // Realised: the list's users whose label (a conversion in [cutoff, cutoff + horizon)) is 1, out of sample
  // because the model that ranked them was trained one horizon earlier.
  const realised = x.outcomesObserved
    ? Number(
        (
          await conn.runAndReadAll(
            `SELECT count(*) FROM campaign_ids c JOIN read_parquet(${quoteLiteral(x.featuresPath)}) f ON f.user_id = c.__uid WHERE f.label = 1`,
          )
        ).getRows()[0][0],
      )
    : null;
  const backtest =
    realised === null
      ? null
      : listBacktest(x.randomRate ?? (await randomRate(conn, x.featuresPath)), rows, realised, expected);
  return { realised, backtest };
}

export async function writeList(
  conn: DuckDBConnection,
  x: ListContext,
  c: CampaignSpec & { kind?: CampaignExport['kind'] },
): Promise<CampaignExport> {
  const def = x.definition;
  await createCampaignRows(conn, x, c);
  // The cap chose the campaign's users; the control group is held out of them, so the list is the treatment arm.
  const control = await splitControl(conn, x, c);
  const csvPath = join(x.outDir, 'exports', `${c.name}.csv`);
  const parquetPath = join(x.outDir, 'exports', `${c.name}.parquet`);
  const readmePath = join(x.outDir, 'exports', `${c.name}.README.txt`);
  // Keep the raw user ids aside (exports may hash them) to measure realised conversions; export the rest.
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE campaign_ids AS SELECT __uid${def.clv ? ', clv' : ''} FROM campaign_rows`,
  );
  await conn.run(`ALTER TABLE campaign_rows DROP COLUMN __uid`);
  // Readable headers and values first, then spreadsheet-safe text (segments/csv-safe.ts); Parquet stays exact.
  await conn.run(`CREATE OR REPLACE TEMP TABLE campaign_csv AS ${await humanCsvSelect(conn, def, 'campaign_rows')}`);
  await copyAtomic(conn, await csvSafeSelect(conn, 'campaign_csv'), csvPath, 'csv', x.crashBeforeRenameOf);
  await copyAtomic(conn, `SELECT * FROM campaign_rows`, parquetPath, 'parquet', x.crashBeforeRenameOf);
  const [rows, expected] = (
    await conn.runAndReadAll(`SELECT count(*), coalesce(sum(propensity), 0) FROM campaign_rows`)
  )
    .getRows()[0]
    .map(Number);
  const { realised, backtest } = await outcomes(conn, x, rows, expected);
  const up = def.export.uploads;
  const uploads = up
    ? await writeUploads(conn, {
        outDir: x.outDir,
        list: c.name,
        formats: up.formats,
        contact: up,
        withValue: !!def.clv,
        crashBeforeRenameOf: x.crashBeforeRenameOf,
      })
    : [];
  const meaning = listMeaning(
    def,
    { description: c.description, action: c.action, rows, expectedConversions: expected },
    x.cutoff,
    x.modelVersion,
  );
  writeFileAtomic(readmePath, listReadme(c.name, meaning, def));
  return {
    name: c.name,
    action: c.action,
    kind: c.kind ?? 'campaign',
    rows,
    expectedConversions: expected,
    realisedConversions: realised,
    meaning,
    csvPath,
    parquetPath,
    readmePath,
    sha256: { csv: await sha256FileAsync(csvPath), parquet: await sha256FileAsync(parquetPath) },
    uploads,
    control,
    backtest,
  };
}

/** Share of every scored user (the `segments` table) who converted: what a random list realises on average. */
export async function randomRate(conn: DuckDBConnection, featuresPath: string): Promise<number> {
  const r = await conn.runAndReadAll(
    `SELECT coalesce(avg(f.label), 0) FROM read_parquet(${quoteLiteral(featuresPath)}) f JOIN segments s USING (user_id)`,
  );
  return Number(r.getRows()[0][0]);
}

/** The realised conversion rate of a list beside a random list's (the base rate of every scored user). */
function listBacktest(randomRate: number, rows: number, realised: number, expected: number): ListBacktest {
  const realisedRate = rows ? realised / rows : 0;
  return {
    realisedRate,
    randomRate,
    liftOverRandom: randomRate > 0 && rows ? realisedRate / randomRate : null,
    realisedOverExpected: expected > 0 ? realised / expected : null,
  };
}
