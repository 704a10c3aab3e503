/**
 * The next-best-action step of a run: when earlier runs' sends of two or more campaigns (actions) have been
 * measured, read every user of those sends (arm, outcome in the send's window, segment features at its cutoff)
 * and grow the action tree (lift/action-tree.ts). Segment features: the segments the send's run assigned
 * (RFM segment, funnel stage, behavioural cluster, propensity decile) and the customer attributes of the features
 * (`attr_*`). Written to `uplift/next-best-action.json`. No Temporal.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineDefinition } from '../pipelines/schema';
import { writeJsonAtomic } from '../infra/atomic';
import { quoteIdent, quoteLiteral } from '../warehouse/db';
import { nextBestActionTree, MAX_DEPTH, MIN_ARM, MIN_Z, type ActionRows, type SegmentAction } from './action-tree';
import { measuredSends, sendRowsSql, featureColumns, type MeasuredSend } from './sends';

/** At most this many users of one send are read (a seeded reservoir sample beyond it). */
export const MAX_ROWS_PER_SEND = 200_000;
const CATEGORICAL = ['rfm_segment', 'funnel_stage', 'cluster'];
const NUMERIC = ['propensity_decile'];

export interface NextBestActions {
  path: string;
  sends: { runId: string; cutoff: string; campaign: string; action: string; treatment: number; control: number }[];
  features: string[];
  method: string;
  segments: SegmentAction[];
}

/** The customer-attribute columns every send's features have. */
async function attributeColumns(conn: DuckDBConnection, sends: MeasuredSend[]): Promise<string[]> {
  let cols: string[] | null = null;
  for (const s of sends) {
    const theirs = (await featureColumns(conn, join(s.runDir, 'features', 'features.parquet'))).filter((c) =>
      c.startsWith('attr_'),
    );
    cols = cols === null ? theirs : cols.filter((c) => theirs.includes(c));
  }
  return cols ?? [];
}

async function readRows(conn: DuckDBConnection, sends: MeasuredSend[], def: PipelineDefinition): Promise<ActionRows> {
  const attrs = await attributeColumns(conn, sends);
  const campaigns = [...new Set(sends.map((s) => s.campaign))];
  const parts = sends.map((s) => {
    const seg = join(s.runDir, 'segments.parquet');
    const segCols = existsSync(seg)
      ? `${CATEGORICAL.map((c) => `CAST(g.${c} AS VARCHAR) AS ${c}`).join(', ')}, CAST(g.propensity_decile AS DOUBLE) AS propensity_decile`
      : `${CATEGORICAL.map((c) => `CAST(NULL AS VARCHAR) AS ${c}`).join(', ')}, CAST(NULL AS DOUBLE) AS propensity_decile`;
    const join_ = existsSync(seg) ? `LEFT JOIN read_parquet(${quoteLiteral(seg)}) g USING (user_id)` : '';
    return `SELECT ${campaigns.indexOf(s.campaign)} AS a, r.__treated AS t, r.__converted AS y, ${segCols}${attrs.map((c) => `, r.${quoteIdent(c)}`).join('')}
            FROM (SELECT * FROM (${sendRowsSql([s], attrs, def.label.event)}) USING SAMPLE reservoir(${MAX_ROWS_PER_SEND} ROWS) REPEATABLE (${def.model.seed})) r ${join_}`;
  });
  const rows = (await conn.runAndReadAll(parts.join('\nUNION ALL\n'))).getRows();
  const col = (k: number) => rows.map((r) => r[k]);
  const categorical = CATEGORICAL.map((name, j) => {
    const values = col(3 + j).map((v) => (v === null ? null : String(v)));
    const levels = [...new Set(values.filter((v): v is string => v !== null))].sort();
    return { name, levels, codes: Int32Array.from(values, (v) => (v === null ? -1 : levels.indexOf(v))) };
  });
  const numeric = [...NUMERIC, ...attrs].map((name, j) => ({
    name,
    values: Float64Array.from(col(3 + CATEGORICAL.length + j), (v) => (v === null ? NaN : Number(v))),
  }));
  return {
    actions: campaigns.map((c) => ({ campaign: c, action: sends.find((s) => s.campaign === c)!.action })),
    action: Uint16Array.from(col(0), Number),
    t: Uint8Array.from(col(1), Number),
    y: Uint8Array.from(col(2), Number),
    numeric,
    categorical: categorical.filter((c) => c.levels.length > 1),
  };
}

/** Null when fewer than two campaigns have a measured send before this run (one action has no alternative). */
export async function nextBestActions(
  conn: DuckDBConnection,
  x: { def: PipelineDefinition; runId: string; runDir: string; runsDir: string },
): Promise<NextBestActions | null> {
  const sends = measuredSends(x.runsDir, x.runId);
  if (new Set(sends.map((s) => s.campaign)).size < 2) return null;
  const d = await readRows(conn, sends, x.def);
  const dir = join(x.runDir, 'uplift');
  mkdirSync(dir, { recursive: true });
  const out: NextBestActions = {
    path: join(dir, 'next-best-action.json'),
    sends: sends.map((s) => ({
      runId: s.runId,
      cutoff: s.cutoff,
      campaign: s.campaign,
      action: s.action,
      treatment: s.treatment,
      control: s.control,
    })),
    features: [...d.categorical.map((c) => c.name), ...d.numeric.map((c) => c.name)],
    method:
      `a decision tree of depth ≤ ${MAX_DEPTH} over segment features; a node splits where one action's lift differs most ` +
      `between its two sides, when |z| ≥ ${MIN_Z} and each side keeps ≥ ${MIN_ARM} users in each arm of each action; ` +
      `a segment's action is the one whose 95 % lift interval is above 0 and above every other action's interval`,
    segments: nextBestActionTree(d),
  };
  writeJsonAtomic(out.path, out);
  return out;
}
