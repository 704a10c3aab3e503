/** Segments and campaigns on the real Online Retail and CDNOW pipelines (skipped only without ../shared). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { buildFeatures, defaultCutoff, trainingCutoffFor } from '../../../warehouse/features';
import { readFeatureTable } from '../../../warehouse/matrix';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { LogisticRegression } from '../../../ml/logistic';
import { loadPipeline } from '../../../pipelines/load';
import { projectRoot } from '../../../infra/root';
import { buildSegments } from '../../../segments';
import { RFM_SEGMENTS } from '../../../segments/rfm';
import { tempDir } from '../../helpers/warehouse';

const noShared = !existsSync(join(projectRoot(), '..', 'shared', 'datasets')) && '../shared/datasets is absent';

for (const name of ['online_retail', 'cdnow']) {
  describe(`segments on ${name}`, { skip: noShared }, () => {
    it('every scored user lands in exactly one RFM segment, and campaigns select what their rule says', async () => {
      const loaded = loadPipeline(name);
      const def = loaded.definition;
      const dir = tempDir(`fc-${name}-`);
      await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
        await extractPipeline(conn, loaded);
        // Where a run trains (its labels observed): CDNOW runs as live after its data, one horizon later.
        const cutoff = await trainingCutoffFor(conn, def, await defaultCutoff(conn, def));
        const f = await buildFeatures(conn, def, { cutoff, outDir: join(dir, 'features') });
        const t = await readFeatureTable(conn, f.featuresPath, { label: 'label', idColumn: 'user_id' });
        const m = new LogisticRegression();
        await m.fit(t.x, t.y!);
        const scoresPath = join(dir, 'scores.parquet');
        await writeColumnsToParquet(conn, scoresPath, [
          { name: 'user_id', type: 'VARCHAR', values: t.ids },
          { name: 'propensity', type: 'DOUBLE', values: m.predictProba(t.x) },
          { name: 'model_version', type: 'VARCHAR', values: t.ids.map(() => 'test') },
        ]);
        const r = await buildSegments(conn, {
          definition: def,
          runId: `${name}-test`,
          cutoff,
          featuresPath: f.featuresPath,
          scoresPath,
          outDir: join(dir, 'run'),
          modelVersion: 'test',
          seed: 1,
        });
        const [rows, distinct, named] = (
          await conn.runAndReadAll(
            `SELECT count(*), count(DISTINCT user_id), count(*) FILTER (WHERE rfm_segment IN (${RFM_SEGMENTS.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ')})) FROM read_parquet('${r.segmentsPath}')`,
          )
        )
          .getRows()[0]
          .map(Number);
        assert.equal(rows, t.ids.length);
        assert.equal(distinct, rows);
        assert.equal(named, rows, 'every user has one of the 11 named segments');
        for (const c of def.campaigns) {
          // CDNOW's CLV-ranked list needs the CLV columns this test does not fit: test/integration/clv.test.ts checks it.
          if (c.rankBy === 'clv') continue;
          const exp = r.campaigns.find((x) => x.name === c.name)!;
          // The campaign selected the delivered list and its held-out control group together (segments/control.ts).
          const got = (
            await conn.runAndReadAll(
              `SELECT user_id FROM read_parquet(['${exp.parquetPath}', '${exp.control.file}']) ORDER BY user_id`,
            )
          )
            .getRows()
            .map((x) => String(x[0]));
          let expected: string[];
          if ('field' in c.filter && c.filter.field === 'propensity_decile') {
            // Independent: deciles straight from the scores file (1 = the top 10 %).
            expected = (
              await conn.runAndReadAll(
                `SELECT user_id FROM (SELECT user_id, propensity, 11 - ntile(10) OVER (ORDER BY propensity, user_id) AS d FROM read_parquet('${scoresPath}'))
               WHERE d ${c.filter.op === 'lte' ? '<=' : '>='} ${Number(c.filter.value)} ORDER BY propensity DESC, user_id ${c.cap ? `LIMIT ${c.cap}` : ''}`,
              )
            )
              .getRows()
              .map((x) => String(x[0]))
              .sort();
          } else {
            const values = (c.filter as { value: string[] }).value;
            const all = (
              await conn.runAndReadAll(`SELECT user_id, rfm_segment FROM read_parquet('${r.segmentsPath}')`)
            ).getRows();
            expected = all
              .filter(([, seg]) => values.includes(String(seg)))
              .map(([u]) => String(u))
              .sort();
          }
          assert.deepEqual(got.sort(), expected, c.name);
        }
      });
    });
  });
}
