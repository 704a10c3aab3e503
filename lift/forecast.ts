/**
 * Before a send: what the uplift model predicts a campaign's delivered list will add. Incremental conversions are
 * the sum of the predicted uplift over the delivered (treatment) users of the list (assignments/<campaign>.parquet,
 * raw ids); revenue prices them with economics.value, or with the revenue per conversion of the treated users in
 * the measured sends (label_revenue); ROI and CAC follow as in lift/measure.ts. Every figure is a prediction, and
 * says so: a measurement comes only from the send's control group once its window has passed. No Temporal.
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineDefinition } from '../pipelines/schema';
import type { Figure } from './measure';
import type { RunUplift } from './pipeline-uplift';

export const PREDICTION_NOTE =
  'predicted by the uplift model before the send (not measured: the control group measures it once the window has passed)';

export interface UpliftForecast {
  campaign: string;
  predicted: true;
  note: string;
  delivered: number;
  incrementalConversions: number;
  incrementalRevenue: number | null;
  cost: number | null;
  currency: string | null;
  roi: Figure;
  cac: Figure;
}

export async function forecastUplift(
  conn: DuckDBConnection,
  x: { def: PipelineDefinition; runDir: string; uplift: RunUplift },
): Promise<UpliftForecast[]> {
  const out: UpliftForecast[] = [];
  for (const m of x.uplift.campaigns) {
    const spec = x.def.campaigns.find((c) => c.name === m.campaign);
    if (!spec) continue;
    const [n, sum] = (
      await conn.runAndReadAll(
        `SELECT count(*), coalesce(sum(u.uplift), 0) FROM read_parquet($a) a
         LEFT JOIN (SELECT user_id, uplift FROM read_parquet($u) WHERE campaign = $c) u USING (user_id)
         WHERE a.arm = 'treatment'`,
        { a: join(x.runDir, 'assignments', `${m.campaign}.parquet`), u: x.uplift.path, c: m.campaign },
      )
    )
      .getRows()[0]
      .map(Number);
    const e = spec.economics ?? null;
    const perConversion = !e ? null : e.value === 'label_revenue' ? m.revenuePerConversion : e.value;
    const revenue = perConversion === null ? null : sum * perConversion;
    const cost = e ? e.fixedCost + e.costPerContact * n : null;
    out.push({
      campaign: m.campaign,
      predicted: true,
      note: PREDICTION_NOTE,
      delivered: n,
      incrementalConversions: sum,
      incrementalRevenue: revenue,
      cost,
      currency: e?.currency ?? null,
      ...predictedRoiCac(cost, sum, revenue),
    });
  }
  return out;
}

/** ROI and CAC of predicted figures, or why there is none. */
export function predictedRoiCac(
  cost: number | null,
  conversions: number,
  revenue: number | null,
): { roi: Figure; cac: Figure } {
  if (cost === null) {
    const none = { value: null, reason: 'no economics (costs and values) in the campaign definition' };
    return { roi: none, cac: none };
  }
  if (cost === 0) {
    const none = { value: null, reason: 'the campaign costs nothing (economics.costPerContact and fixedCost are 0)' };
    return { roi: none, cac: none };
  }
  return {
    roi:
      revenue === null
        ? { value: null, reason: 'no revenue per conversion: the measured sends had no treated converter' }
        : { value: (revenue - cost) / cost },
    cac:
      conversions > 0
        ? { value: cost / conversions }
        : { value: null, reason: 'the model predicts no incremental conversions for this list' },
  };
}
