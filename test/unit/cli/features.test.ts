import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { featuresCommand } from '../../../cli/features';
import { readArrowFile } from '../../../warehouse/arrow';
import { withDuckDB } from '../../../warehouse/db';
import { runCli } from '../../helpers/cli';
import { useTempHome } from '../../helpers/temporal';
import { tempDir } from '../../helpers/warehouse';

describe('funnelcast features', () => {
  it('writes the same feature table as Parquet, CSV and an Arrow IPC file', async () => {
    useTempHome('fc-features-cli-');
    const dir = tempDir('fc-features-out-');
    const args = (out: string) => ['--pipeline', 'sample', '--cutoff', '2024-04-30', '--out', join(dir, out), '--json'];
    const pq = await runCli(featuresCommand, args('f.parquet'));
    assert.equal(pq.code, 0);
    const meta = JSON.parse(pq.out);
    assert.ok(meta.users > 1000 && meta.features.length > 20);
    assert.equal((await runCli(featuresCommand, args('f.csv'))).code, 0);
    assert.equal((await runCli(featuresCommand, args('f.arrow'))).code, 0);
    const arrow = readArrowFile(join(dir, 'f.arrow'));
    assert.equal(arrow.numRows, meta.users);
    assert.deepEqual(
      arrow.schema.fields.map((f) => f.name),
      ['user_id', 'label', ...meta.features],
    );
    assert.equal(String(arrow.schema.fields[0].type), 'Utf8');
    assert.equal(String(arrow.schema.fields[1].type), 'Int32');
    // Column by column, the Arrow values are the Parquet values (and the CSV has the same rows).
    await withDuckDB(':memory:', async (conn) => {
      const pqRows = (
        await conn.runAndReadAll(`SELECT * FROM read_parquet($p)`, { p: join(dir, 'f.parquet') })
      ).getColumns();
      for (const [j, field] of arrow.schema.fields.entries()) {
        const got = arrow.getChildAt(j)!.toArray() as ArrayLike<unknown>;
        const want = pqRows[j];
        for (let i = 0; i < arrow.numRows; i += 97)
          assert.equal(
            field.name === 'user_id' ? String(arrow.getChildAt(j)!.get(i)) : Number(got[i]),
            field.name === 'user_id' ? String(want[i]) : Number(want[i]),
            `${field.name}[${i}]`,
          );
      }
      const csvRows = Number(
        (await conn.runAndReadAll(`SELECT count(*) FROM read_csv($p)`, { p: join(dir, 'f.csv') })).getRows()[0][0],
      );
      assert.equal(csvRows, meta.users);
    });
    await assert.rejects(runCli(featuresCommand, ['--out', join(dir, 'f.json')]), /\.parquet, \.csv or \.arrow/);
  });
});
