/**
 * How one list is written for people and for programs. The Parquet file keeps machine names and exact values;
 * the CSV has readable headers, probabilities as percentages and reasons as phrases; a README next to each CSV and
 * the manifest say what the list is, what to do with it and what "expected conversions" means.
 */
import { basename, dirname, join } from 'node:path';
import { readdirSync, renameSync, rmSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { diskFullError } from '../infra/disk-full';
import { tempNameFor } from '../infra/atomic';
import type { PipelineDefinition } from '../pipelines/schema';
import { durationMs } from '../pipelines/schema';
import { quoteIdent, quoteLiteral } from '../warehouse/db';
import { columnSafe } from '../warehouse/names';
import { eventWords, featurePhrase, phraseSql, reasonValueColumn } from './dictionary';

/** One convention for every output: decile 1 holds the highest 10 % of scores. */
export const DECILE_CONVENTION = 'decile 1 = the top 10 % of scores (highest), decile 10 = the lowest 10 %';

/** COPY to a temp name, then rename: readers never see a half-written export. */
export async function copyAtomic(
  conn: DuckDBConnection,
  select: string,
  file: string,
  format: 'csv' | 'parquet',
  crashBeforeRenameOf?: string,
) {
  // A temp name of this writer's own (infra/atomic): two attempts of one step never share it.
  const tmp = tempNameFor(file);
  const options = format === 'csv' ? `(FORMAT csv, HEADER true)` : `(FORMAT parquet, COMPRESSION zstd)`;
  try {
    await conn.run(`COPY (${select}) TO ${quoteLiteral(tmp)} ${options}`);
  } catch (e) {
    rmSync(tmp, { force: true }); // a half-written temp (disk full) is never left behind
    throw diskFullError(e, `writing ${file}`, 'the previous export is untouched, no partial file left') ?? e;
  }
  if (crashBeforeRenameOf && basename(file) === crashBeforeRenameOf)
    throw new Error(`injected crash before renaming ${basename(tmp)} to ${basename(file)}`);
  renameSync(tmp, file);
  // Temps a crashed earlier attempt left beside it: this attempt's file replaces whatever they held.
  for (const f of readdirSync(dirname(file)))
    if (f.startsWith(`${basename(file)}.tmp-`)) rmSync(join(dirname(file), f), { force: true });
}

/**
 * A VARCHAR expression turning the reason name in `reasonCol` into its phrase with the user's value, read from the
 * feature columns of alias `f` (`featCols`: the columns the features file has). Unknown names stay as they are.
 */
export function reasonPhraseSql(def: PipelineDefinition, featCols: Set<string>, reasonCol: string): string {
  const names = [...featCols].filter((c) => c !== 'user_id' && c !== 'label');
  // LSTM occlusion reasons name an event type (seq_<event>) or the revenue inputs (seq_revenue).
  const seq = ['seq_revenue', ...names.filter((n) => /^n_.+_total$/.test(n)).map((n) => `seq_${n.slice(2, -6)}`)];
  const opts = {
    tenure: featCols.has('tenure_days') ? 'f.tenure_days' : undefined,
    stages: def.features.funnel,
  };
  const arms = [...names, ...seq].flatMap((name) => {
    const p = featurePhrase(name, def);
    const col = reasonValueColumn(name);
    if (!p || !featCols.has(col)) return [];
    return [`WHEN ${quoteLiteral(name)} THEN ${phraseSql(p, `f.${quoteIdent(col)}`, opts)}`];
  });
  return `CASE WHEN ${reasonCol} IS NULL OR ${reasonCol} = '' THEN NULL ${arms.length ? `ELSE CASE ${reasonCol} ${arms.join(' ')} ELSE ${reasonCol} END` : `ELSE ${reasonCol}`} END`;
}

/** What a converting user does, in words: "purchase" for a transaction label. */
export function conversionWords(def: PipelineDefinition): string {
  return eventWords(columnSafe(def.label.event)).noun;
}

/** Probabilities for people: percentages, one decimal, two below 1 % (so 0.4 % is not shown as 0). */
export const percentSql = (x: string) =>
  `CASE WHEN ${x} IS NULL THEN NULL WHEN 100 * ${x} < 1 THEN round(100 * ${x}, 2) ELSE round(100 * ${x}, 1) END`;

/** Machine column → CSV header (and the value the CSV shows). */
export function csvColumns(def: PipelineDefinition): Record<string, { header: string; sql?: (c: string) => string }> {
  const within = def.label.horizon;
  const conv = conversionWords(def);
  return {
    user_id: { header: 'User ID' },
    propensity: { header: `Chance of a ${conv} within ${within} (%)`, sql: percentSql },
    churn_risk: { header: `Risk of going quiet within ${within} (%)`, sql: percentSql },
    rfm_segment: { header: 'RFM segment' },
    funnel_stage: { header: 'Furthest funnel stage' },
    propensity_decile: { header: 'Propensity decile (1 = top 10%)' },
    cluster: { header: 'Behaviour cluster' },
    why_1: { header: 'Reason 1' },
    why_2: { header: 'Reason 2' },
    why_3: { header: 'Reason 3' },
    action: { header: 'Action' },
  };
}

/**
 * The CSV's SELECT over `table`: readable headers in a fixed order, machine-only columns (reason names) left out,
 * columns without a mapping (exported PII attributes, upload columns) kept under their own names.
 */
export async function humanCsvSelect(conn: DuckDBConnection, def: PipelineDefinition, table: string): Promise<string> {
  const present = (await conn.runAndReadAll(`DESCRIBE ${quoteIdent(table)}`)).getRows().map((r) => String(r[0]));
  const map = csvColumns(def);
  const hidden = new Set(['reason_1', 'reason_2', 'reason_3']);
  const list = present
    .filter((c) => !hidden.has(c))
    .map((c) => {
      const m = map[c];
      return m ? `${m.sql ? m.sql(quoteIdent(c)) : quoteIdent(c)} AS ${quoteIdent(m.header)}` : quoteIdent(c);
    });
  return `SELECT ${list.join(', ')} FROM ${quoteIdent(table)}`;
}

export interface ListMeaning {
  description: string;
  action: string;
  cutoff: string;
  modelVersion: string;
  rows: number;
  expectedConversions: {
    value: number;
    /** The window the figure counts conversions in: [cutoff, cutoff + horizon). */
    window: { from: string; to: string; horizon: string };
    kind: 'baseline';
    means: string;
  };
  deciles: string;
}

/** What the list and its "expected conversions" mean, for the manifest, the README and the report. */
export function listMeaning(
  def: PipelineDefinition,
  list: { description?: string; action: string; rows: number; expectedConversions: number },
  cutoff: Date,
  modelVersion: string,
): ListMeaning {
  const to = new Date(cutoff.getTime() + durationMs(def.label.horizon));
  const conv = conversionWords(def);
  const n = list.expectedConversions;
  return {
    description: list.description ?? '(no description in the pipeline definition)',
    action: list.action,
    cutoff: cutoff.toISOString(),
    modelVersion,
    rows: list.rows,
    expectedConversions: {
      value: Number(n.toFixed(4)),
      window: { from: cutoff.toISOString(), to: to.toISOString(), horizon: def.label.horizon },
      kind: 'baseline',
      means:
        `about ${n.toFixed(1)} of the ${list.rows.toLocaleString('en-US')} users on this list are expected to make a ` +
        `${conv} between ${cutoff.toISOString().slice(0, 10)} and ${to.toISOString().slice(0, 10)} (the ${def.label.horizon} after the cutoff): ` +
        `the sum of their calibrated propensities. It is a baseline (what the model expects without the campaign), ` +
        `not the campaign's incremental effect: measure that with a control group.`,
    },
    deciles: DECILE_CONVENTION,
  };
}

/** The README written next to each CSV: the list's meaning and its columns, in plain text. */
export function listReadme(name: string, m: ListMeaning, def: PipelineDefinition): string {
  const cols = csvColumns(def);
  return [
    `List: ${name}`,
    `What it is: ${m.description}`,
    `What to do: ${m.action}`,
    `Users: ${m.rows.toLocaleString('en-US')}`,
    `Scored at cutoff ${m.cutoff} with model version ${m.modelVersion}.`,
    `Expected conversions: ${m.expectedConversions.means}`,
    `Deciles: ${m.deciles}.`,
    '',
    'Columns:',
    ...Object.values(cols).map((c) => `- ${c.header}`),
    `Reasons are the three things that raised the user's chance most, with the user's own values.`,
    `The Parquet file next to this one has the same rows with machine names and exact values.`,
    '',
  ].join('\n');
}
