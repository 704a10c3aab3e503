/**
 * A campaign's control group, split off its selected users before the list is written: the held-out users never
 * reach the delivered list (CSV, Parquet, uploads, webhook, bucket); they are recorded in their own file beside
 * the list (`<campaign>.control.parquet`, same columns, not delivered) and, with the treatment users, in the run's
 * assignment file (`assignments/<campaign>.parquet`: raw user id and arm), which is what `measure` reads: exported
 * ids may be hashed, the measurement needs the warehouse's ids.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CampaignSpec } from '../pipelines/schema';
import { sha256FileAsync } from '../registry';
import { assignmentFractionSql } from '../lift/assignment';
import { quoteLiteral } from '../warehouse/db';
import { copyAtomic } from './lists';

export interface ControlGroup {
  /** The held-out share of the selected users (0: no control group). */
  share: number;
  salt: string;
  /** Users held out (never delivered). */
  rows: number;
  /** Users delivered (the list). */
  treatmentRows: number;
  /** Held-out users who converted in [cutoff, cutoff + horizon): only when those outcomes are known. */
  realisedConversions: number | null;
  file: string;
  sha256: string;
  /** Raw user id and arm of every selected user: the input of measurement (never delivered). */
  assignmentsPath: string;
}

/** The `__frac` column `campaign_rows` must carry: the user's assignment fraction for this campaign. */
export function fractionColumn(c: Pick<CampaignSpec, 'name' | 'control'>): {
  sql: string;
  params: Record<string, string>;
} {
  return assignmentFractionSql('segments.user_id', c.control.salt, c.name);
}

/**
 * Splits `campaign_rows` (with `__uid` and `__frac`) into arms: writes the control file and the assignments, and
 * leaves only the treatment users in `campaign_rows` (without `__frac`).
 */
export async function splitControl(
  conn: DuckDBConnection,
  x: { outDir: string; featuresPath: string; outcomesObserved?: boolean; crashBeforeRenameOf?: string },
  c: Pick<CampaignSpec, 'name' | 'control'>,
): Promise<ControlGroup> {
  const share = c.control.share;
  // A share of 0 is no control group: the comparison below is then false for every user.
  const inControl = `(__frac < ${Number(share)})`;
  const file = join(x.outDir, 'exports', `${c.name}.control.parquet`);
  const assignmentsPath = join(x.outDir, 'assignments', `${c.name}.parquet`);
  mkdirSync(join(x.outDir, 'assignments'), { recursive: true });
  await copyAtomic(
    conn,
    `SELECT __uid AS user_id, CASE WHEN ${inControl} THEN 'control' ELSE 'treatment' END AS arm, propensity FROM campaign_rows ORDER BY __uid`,
    assignmentsPath,
    'parquet',
    x.crashBeforeRenameOf,
  );
  await copyAtomic(
    conn,
    `SELECT * EXCLUDE (__uid, __frac) FROM campaign_rows WHERE ${inControl}`,
    file,
    'parquet',
    x.crashBeforeRenameOf,
  );
  const realised = x.outcomesObserved
    ? `(SELECT count(*) FROM campaign_rows c JOIN read_parquet(${quoteLiteral(x.featuresPath)}) f ON f.user_id = c.__uid WHERE f.label = 1 AND ${inControl.replace('__frac', 'c.__frac')})`
    : 'NULL';
  const [rows, treatmentRows, realisedConversions] = (
    await conn.runAndReadAll(
      `SELECT count(*) FILTER (WHERE ${inControl}), count(*) FILTER (WHERE NOT ${inControl}), ${realised} FROM campaign_rows`,
    )
  ).getRows()[0];
  await conn.run(`DELETE FROM campaign_rows WHERE ${inControl}`);
  await conn.run(`ALTER TABLE campaign_rows DROP COLUMN __frac`);
  return {
    share,
    salt: c.control.salt,
    rows: Number(rows),
    treatmentRows: Number(treatmentRows),
    realisedConversions: realisedConversions === null ? null : Number(realisedConversions),
    file,
    sha256: await sha256FileAsync(file),
    assignmentsPath,
  };
}
