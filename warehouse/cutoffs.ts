/**
 * The dates a run is built around: the default cutoff (the last day whose label horizon has passed), how far the
 * loaded data is observed, and the training cutoff one horizon before a run's cutoff.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { durationMs, type PipelineDefinition } from '../pipelines/schema';
import { rows } from './db';

export const DAY_MS = 86_400_000;

/** The pipeline's default cutoff: declared, else the last event time minus the horizon, at midnight UTC. */
export async function defaultCutoff(conn: DuckDBConnection, def: PipelineDefinition): Promise<Date> {
  if (def.defaultCutoff) return new Date(def.defaultCutoff);
  const r = await conn.runAndReadAll(`SELECT epoch_ms(max(ts)) FROM events`);
  const max = r.getRows()[0]?.[0];
  if (max == null)
    throw Object.assign(new Error('the warehouse has no events yet: run the extract first'), { name: 'InputError' });
  const t = Number(max) - durationMs(def.label.horizon);
  return new Date(Math.floor(t / DAY_MS) * DAY_MS);
}

/**
 * The end of the observed period (ms): the last event (and label) time; when every timestamp is a midnight (the
 * source has dates, not times), the last day counts whole, so data dated D covers up to D + 1 day.
 */
export async function observedUntil(conn: DuckDBConnection, withLabels: boolean): Promise<number> {
  const all = withLabels ? `SELECT ts FROM events UNION ALL SELECT ts FROM labels` : `SELECT ts FROM events`;
  const [max, datesOnly] = (
    await rows(
      conn,
      `SELECT coalesce(epoch_ms(max(ts)), 0), coalesce(bool_and(ts = date_trunc('day', ts)), false) FROM (${all})`,
    )
  )[0];
  return Number(max) + (datesOnly ? DAY_MS : 0);
}

/**
 * Where a run at `cutoff` trains when its own outcomes are not observed yet: one horizon before the cutoff, or one
 * horizon before the end of the loaded data (at midnight UTC) when the data stops before the cutoff. Live data
 * always lags the clock a little, and labels count only once the data covers the whole horizon.
 */
export async function trainingCutoffFor(conn: DuckDBConnection, def: PipelineDefinition, cutoff: Date): Promise<Date> {
  const horizon = durationMs(def.label.horizon);
  const tables = await rows(
    conn,
    `SELECT count(*) FROM information_schema.tables WHERE table_name IN ('events', 'labels')`,
  );
  if (Number(tables[0][0]) < 2) return new Date(cutoff.getTime() - horizon);
  const observed = await observedUntil(conn, def.sources.labels !== undefined);
  return new Date(Math.min(cutoff.getTime(), Math.floor(observed / DAY_MS) * DAY_MS) - horizon);
}
