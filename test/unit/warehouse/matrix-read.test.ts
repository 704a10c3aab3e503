/**
 * Reading a feature table into columns (issue 17): the numbers come from DuckDB's own Float64 buffer of each
 * chunk (chunkDoubles) instead of a boxed array per column and chunk. What is read must stay exactly what the
 * file holds: NULL → NaN, NaN kept, integers and one-hot columns as doubles, in file order across many chunks,
 * for both the Float32 reader (logistic, scoring) and the binned reader (forest).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { readFeatureTable } from '../../../warehouse/matrix';
import { readBinnedTable } from '../../../warehouse/binned';
import { binEdges, binInto, allocateBins } from '../../../ml/forest/binning';
import { tempDir } from '../../helpers/warehouse';

const ROWS = 5_000; // three chunks of 2,048 rows, the last one partial

async function table(): Promise<string> {
  const file = join(tempDir('fc-matrix-read-'), 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CAST(i % 7 = 0 AS INTEGER) AS label,
             CASE WHEN i % 11 = 0 THEN NULL WHEN i % 13 = 0 THEN CAST('NaN' AS DOUBLE) ELSE i / 3.0 END AS f_double,
             CAST(i % 17 AS INTEGER) AS f_int,
             CASE WHEN i % 3 = 0 THEN 'web' WHEN i % 3 = 1 THEN 'app' ELSE NULL END AS channel
      FROM range(${ROWS}) t(i) ORDER BY i
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

/** What row i holds, computed here: the reference the readers must reproduce. */
function expected(i: number) {
  const fDouble = i % 11 === 0 ? NaN : i % 13 === 0 ? NaN : i / 3;
  return { id: `u${i}`, label: i % 7 === 0 ? 1 : 0, fDouble, fInt: i % 17, web: i % 3 === 0 ? 1 : 0 };
}

describe('reading a feature table from DuckDB chunks', () => {
  it('gives every value of the file as a double, NULL and NaN as NaN, in file order', async () => {
    const file = await table();
    const t = await withDuckDB(':memory:', (conn) =>
      readFeatureTable(conn, file, { label: 'label', idColumn: 'user_id' }),
    );
    assert.equal(t.x.nRows, ROWS);
    assert.deepEqual(t.x.names, ['f_double', 'f_int', 'channel=app', 'channel=web']);
    const [fDouble, fInt, , web] = t.x.columns;
    for (let i = 0; i < ROWS; i++) {
      const e = expected(i);
      assert.equal(t.ids[i], e.id);
      assert.equal(t.y![i], e.label);
      if (Number.isNaN(e.fDouble)) assert.ok(Number.isNaN(fDouble[i]), `row ${i}: NaN expected, got ${fDouble[i]}`);
      else assert.equal(fDouble[i], Math.fround(e.fDouble), `row ${i}`);
      assert.equal(fInt[i], e.fInt);
      assert.equal(web[i], e.web);
    }
  });

  it('bins every row as binning the values read one by one does', async () => {
    const file = await table();
    const t = await withDuckDB(':memory:', (conn) =>
      readBinnedTable(conn, file, { label: 'label', idColumn: 'user_id', maxBins: 32 }),
    );
    // The reference: the same edges (from every row: the table is smaller than the edge sample), values binned here.
    const values = Float32Array.from({ length: ROWS }, (_, i) => expected(i).fDouble);
    const edges = binEdges(values, 32);
    assert.deepEqual(Array.from(t.bins.edges[0]), Array.from(edges));
    // Binned as read: the doubles themselves (as before this reader), not their Float32 rounding.
    const ref = allocateBins(ROWS, [edges]);
    binInto(
      ref,
      0,
      0,
      Float64Array.from({ length: ROWS }, (_, i) => expected(i).fDouble),
    );
    assert.deepEqual(Array.from(t.bins.codes[0]), Array.from(ref.codes[0]));
    assert.deepEqual(
      Array.from(t.y),
      Array.from({ length: ROWS }, (_, i) => expected(i).label),
    );
  });
});
