/**
 * The warehouse's `campaign_results` table: one row per (run, campaign) with its latest measurement, so lift can be
 * compared across sends and over time (the report's chart, the next runs' uplift data).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { RunMeasurement } from './run';

const DDL = `CREATE TABLE IF NOT EXISTS campaign_results (
  run_id VARCHAR NOT NULL, campaign VARCHAR NOT NULL, cutoff TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL,
  status VARCHAR NOT NULL, reason VARCHAR, treatment_users BIGINT, control_users BIGINT,
  treatment_conversions BIGINT, control_conversions BIGINT, treatment_rate DOUBLE, control_rate DOUBLE,
  lift DOUBLE, lift_low DOUBLE, lift_high DOUBLE, relative_lift DOUBLE,
  revenue_lift DOUBLE, revenue_lift_low DOUBLE, revenue_lift_high DOUBLE,
  incremental_conversions DOUBLE, incremental_revenue DOUBLE, cost DOUBLE, currency VARCHAR, roi DOUBLE, cac DOUBLE,
  measured_at TIMESTAMP NOT NULL, PRIMARY KEY (run_id, campaign))`;

export async function storeResults(conn: DuckDBConnection, m: RunMeasurement): Promise<void> {
  await conn.run(DDL);
  for (const c of m.campaigns) {
    const r = c.result;
    await conn.run(
      `INSERT OR REPLACE INTO campaign_results VALUES ($run, $campaign, CAST($cutoff AS TIMESTAMP), CAST($end AS TIMESTAMP),
        $status, $reason, $nt, $nc, $xt, $xc, $pt, $pc, $lift, $low, $high, $rel, $rev, $revLow, $revHigh, $incConv, $incRev,
        $cost, $currency, $roi, $cac, CAST($at AS TIMESTAMP))`,
      {
        run: m.runId,
        campaign: c.campaign,
        cutoff: c.window.from.replace('Z', ''),
        end: c.window.to.replace('Z', ''),
        status: c.status,
        reason: c.reason,
        nt: r?.treatment.users ?? null,
        nc: r?.control.users ?? null,
        xt: r?.treatment.conversions ?? null,
        xc: r?.control.conversions ?? null,
        pt: r?.treatment.rate ?? null,
        pc: r?.control.rate ?? null,
        lift: r?.absoluteLift.estimate ?? null,
        low: r?.absoluteLift.low ?? null,
        high: r?.absoluteLift.high ?? null,
        rel: r?.relativeLift?.estimate ?? null,
        rev: r?.revenuePerUserLift.estimate ?? null,
        revLow: r?.revenuePerUserLift.low ?? null,
        revHigh: r?.revenuePerUserLift.high ?? null,
        incConv: r?.incrementalConversions.estimate ?? null,
        incRev: r?.incrementalRevenue.estimate ?? null,
        cost: r?.cost ?? null,
        currency: r?.currency ?? null,
        roi: r?.roi.value ?? null,
        cac: r?.cac.value ?? null,
        at: m.measuredAt.replace('Z', ''),
      },
    );
  }
}

/** Every measured row of the table, oldest send first: the report's lift over time. */
export async function campaignHistory(conn: DuckDBConnection) {
  await conn.run(DDL);
  const r = await conn.runAndReadAll(
    `SELECT campaign, CAST(cutoff AS VARCHAR), lift, lift_low, lift_high FROM campaign_results WHERE status = 'measured' ORDER BY cutoff, campaign`,
  );
  return r.getRows().map(([campaign, cutoff, lift, low, high]) => ({
    campaign: String(campaign),
    cutoff: String(cutoff),
    lift: Number(lift),
    low: Number(low),
    high: Number(high),
  }));
}
