/**
 * The CLV activity as an adapter (MockActivityEnvironment, real DuckDB): it reads the RFM summaries of a feature
 * table, writes one row per customer (never for users who did not buy), backtests only when the warehouse covers
 * the horizon after the training cutoff, reuses a finished result, and turns a fit it cannot trust into a
 * non-retryable failure that writes nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { fitCustomerValue } from '../../../activities/clv';
import { paths } from '../../../infra/paths';
import { withDuckDB } from '../../../warehouse/db';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';
import type { ClvRef } from '../../../workflows/types';

/** Customers with BG/NBD-like summaries in weeks (deterministic from the row number), plus users who never bought. */
async function featureTable(customers: number, prospects: number, repeats: boolean): Promise<string> {
  const file = join(tempDir('fc-clv-act-'), 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'c' || i AS user_id, 1 + x AS n_purchase_total, x AS rfm_frequency,
             CASE WHEN x = 0 THEN 0 ELSE round(age * (0.3 + (hash(i * 7) % 70) / 100.0), 2) END AS rfm_recency,
             age AS rfm_t, CASE WHEN x = 0 THEN 0 ELSE 10 + (hash(i * 13) % 4000) / 100.0 END AS rfm_monetary
      FROM (SELECT i, CASE WHEN ${repeats ? 'true' : 'false'} THEN (hash(i) % 100 < 45)::INT * (1 + hash(i * 3) % 6) ELSE 0 END AS x,
                   round(5 + (hash(i * 5) % 3000) / 100.0, 2) AS age FROM range(${customers}) t(i))
      UNION ALL
      SELECT 'p' || i, 0, 0, 0, 3.0, 0 FROM range(${prospects}) t(i)
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

function setup(name: string, lastEvent: string) {
  process.env.FUNNELCAST_HOME = tempDir('fc-clv-home-');
  const loaded = inlinePipeline(
    {
      name,
      sources: { events: { path: 'e.csv', columns: { user_id: 'u', ts: 't', event: 'e' }, eventTypes: ['purchase'] } },
      label: { event: 'purchase', horizon: '30d' },
      clv: { horizon: '12w' },
      features: { rfmUnit: 'weeks' },
    },
    tempDir(),
  );
  return withDuckDB(paths.warehouse(name), (conn) =>
    conn.run(`CREATE TABLE events AS SELECT 'c1' AS user_id, TIMESTAMP '${lastEvent}' AS ts, 'purchase' AS event`),
  ).then(() => loaded);
}

const env = () => new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('WARN') });

describe('fitCustomerValue (activity)', () => {
  it('values every customer, no prospect; no backtest when the data stops before its horizon', async () => {
    const loaded = await setup('clvact', '2024-05-01T00:00:00Z');
    const features = { featuresPath: await featureTable(3000, 500, true) };
    const input = {
      loaded,
      runDir: tempDir('fc-clv-run-'),
      cutoff: '2024-05-01T00:00:00.000Z',
      features,
      trainingCutoff: '2024-04-01T00:00:00.000Z',
      trainingFeatures: features,
    };
    const ref: ClvRef = await env().run(fitCustomerValue, input);
    assert.equal(ref.customers, 3000);
    assert.equal(ref.users, 3500);
    assert.equal(ref.validation, null, '12 weeks after 2024-04-01 are not in a warehouse that ends on 2024-05-01');
    assert.ok(ref.gammaGamma.q > 1 && ref.bgnbd.r > 0);
    await withDuckDB(':memory:', async (conn) => {
      const f = `read_parquet('${ref.clvPath}')`;
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${f}`), 3000);
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${f} WHERE user_id LIKE 'p%'`), 0);
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${f} WHERE clv IS NULL OR isnan(clv) OR clv <= 0`), 0);
    });
    // A retry of a finished step returns the same reference without fitting again.
    assert.deepEqual(await env().run(fitCustomerValue, input), ref);
  });

  it('a fit it cannot trust fails non-retryably and leaves no value file', async () => {
    const loaded = await setup('clvact2', '2024-05-01T00:00:00Z');
    const features = { featuresPath: await featureTable(400, 0, false) };
    const runDir = tempDir('fc-clv-run-');
    await assert.rejects(
      env().run(fitCustomerValue, {
        loaded,
        runDir,
        cutoff: '2024-05-01T00:00:00.000Z',
        features,
        trainingCutoff: '2024-04-01T00:00:00.000Z',
        trainingFeatures: features,
      }),
      (e: Error) => {
        assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `non-retryable, got ${e}`);
        assert.match(e.message, /CLV at 2024-05-01.*not published: Gamma-Gamma: 0 customers with repeat purchases/);
        return true;
      },
    );
    const dir = join(runDir, 'clv');
    assert.ok(!existsSync(dir) || readdirSync(dir).every((f) => !f.endsWith('.parquet') && !f.includes('.tmp-')));
  });
});
