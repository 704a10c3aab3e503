/**
 * Measured sends as training data: an earlier run whose measurement (exports/measurement.json, lift/run.ts) has a
 * campaign `measured` left behind, per user, the arm (assignments/<campaign>.parquet), the features at its cutoff
 * (features/features.parquet) and the propensity that ranked it (scores.parquet); the outcome in its measurement
 * window comes from the events loaded now. This is what the uplift model (lift/pipeline-uplift.ts) and the
 * next-best-action tree (lift/next-best-action.ts) learn from. No Temporal.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { runCutoffStamp } from '../infra/paths';
import { quoteIdent } from '../warehouse/db';
import type { RunMeasurement } from './run';

export interface MeasuredSend {
  runId: string;
  runDir: string;
  /** The send's cutoff (when its list was made) and its measurement window [from, to). */
  cutoff: string;
  campaign: string;
  action: string;
  from: string;
  to: string;
  /** Treatment and control users with their measured lift (absolute, 95 %). */
  treatment: number;
  control: number;
  lift: { estimate: number; low: number; high: number };
}

/**
 * Every measured send of the runs in `runsDir` at a cutoff before `beforeRunId`'s, oldest first; only those of
 * `campaign` when it is given. A send whose files are gone (a pruned run) is skipped.
 */
export function measuredSends(runsDir: string, beforeRunId: string, campaign?: string): MeasuredSend[] {
  if (!existsSync(runsDir)) return [];
  const mine = runCutoffStamp(beforeRunId);
  const out: MeasuredSend[] = [];
  for (const d of readdirSync(runsDir).sort()) {
    const file = join(runsDir, d, 'exports', 'measurement.json');
    if (!(runCutoffStamp(d) < mine) || !existsSync(file)) continue;
    const m = JSON.parse(readFileSync(file, 'utf8')) as RunMeasurement;
    for (const c of m.campaigns) {
      if (c.status !== 'measured' || !c.result || (campaign && c.campaign !== campaign)) continue;
      const runDir = join(runsDir, d);
      if (!['features/features.parquet', `assignments/${c.campaign}.parquet`].every((f) => existsSync(join(runDir, f))))
        continue;
      out.push({
        runId: m.runId,
        runDir,
        cutoff: m.cutoff,
        campaign: c.campaign,
        action: c.action,
        from: c.window.from,
        to: c.window.to,
        treatment: c.result.treatment.users,
        control: c.result.control.users,
        lift: c.result.absoluteLift,
      });
    }
  }
  return out.sort((a, b) =>
    a.cutoff === b.cutoff ? a.campaign.localeCompare(b.campaign) : a.cutoff < b.cutoff ? -1 : 1,
  );
}

const ts = (iso: string) => iso.replace('Z', '');

/**
 * One query over the sends: a row per (send, user on its list) with the feature `columns` at the send's cutoff,
 * `__treated` (1 = delivered), `__converted` (the label event in the window), `__revenue` and `__propensity`
 * (the score that ranked the list; NaN when the run kept no scores). The caller copies it to a file or reads it.
 */
export function sendRowsSql(sends: MeasuredSend[], columns: string[], labelEvent: string): string {
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const parts = sends.map((s) => {
    const scores = join(s.runDir, 'scores.parquet');
    const propensity = existsSync(scores)
      ? `(SELECT p.propensity FROM read_parquet(${lit(scores)}) p WHERE p.user_id = a.user_id)`
      : 'CAST(NULL AS DOUBLE)';
    return `SELECT a.user_id, ${lit(s.runId)} AS __run, ${lit(s.campaign)} AS __campaign,
              ${columns.map((c) => `CAST(f.${quoteIdent(c)} AS DOUBLE) AS ${quoteIdent(c)}`).join(', ')}${columns.length ? ',' : ''}
              CAST(a.arm = 'treatment' AS INTEGER) AS __treated,
              CAST(o.user_id IS NOT NULL AS INTEGER) AS __converted, coalesce(o.revenue, 0) AS __revenue,
              ${propensity} AS __propensity
            FROM read_parquet(${lit(join(s.runDir, 'assignments', `${s.campaign}.parquet`))}) a
            JOIN read_parquet(${lit(join(s.runDir, 'features', 'features.parquet'))}) f USING (user_id)
            LEFT JOIN (SELECT user_id, sum(coalesce(revenue, 0)) AS revenue FROM events
                       WHERE event = ${lit(labelEvent)} AND ts >= TIMESTAMP ${lit(ts(s.from))} AND ts < TIMESTAMP ${lit(ts(s.to))}
                       GROUP BY user_id) o USING (user_id)`;
  });
  return parts.join('\nUNION ALL\n');
}

/** The feature columns of a features file (everything but user_id and label). */
export async function featureColumns(conn: DuckDBConnection, file: string): Promise<string[]> {
  const r = await conn.runAndReadAll(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet($f))`, { f: file });
  return r
    .getRows()
    .map((x) => String(x[0]))
    .filter((c) => c !== 'user_id' && c !== 'label');
}

/** The feature columns every send's features and the current run's have: a definition may have changed since. */
export async function sharedColumns(conn: DuckDBConnection, current: string, sends: MeasuredSend[]): Promise<string[]> {
  let cols = await featureColumns(conn, current);
  for (const s of sends) {
    const theirs = new Set(await featureColumns(conn, join(s.runDir, 'features', 'features.parquet')));
    cols = cols.filter((c) => theirs.has(c));
  }
  return cols;
}
