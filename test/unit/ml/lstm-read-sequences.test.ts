/**
 * readSequences streams sequences.parquet chunk by chunk (2,048 rows) into the padded arrays: read all at once it
 * held three boxed lists per user (3.3 GB for the 3.2 M training users of 10 M events, in every fold's process).
 * Rows across chunk boundaries land where they belong, and a set larger than the memory budget is refused with the
 * setting to raise instead of being read.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSequences } from '../../../ml/lstm';
import { MemoryBudgetError } from '../../../infra/memory';
import { withDuckDB } from '../../../warehouse/db';
import { tempDir } from '../../helpers/warehouse';

const N = 5_000; // three chunks
const T = 6;

/** User u<i> (ids sort as strings) has 1 + i % T events: tokens 1 + (i + t) % 3, gaps i + t, revenue t. */
async function writeSequences(file: string) {
  await withDuckDB(':memory:', async (conn) => {
    await conn.run(`
      COPY (
        SELECT 'u' || lpad(CAST(i AS VARCHAR), 5, '0') AS user_id, CAST(i % 7 = 0 AS INTEGER) AS label,
               list_transform(range(1 + i % ${T}), t -> CAST(1 + (i + t) % 3 AS INTEGER)) AS tokens,
               list_transform(range(1 + i % ${T}), t -> CAST(i + t AS FLOAT)) AS gaps,
               list_transform(range(1 + i % ${T}), t -> CAST(t AS FLOAT)) AS revenue,
               ${T} AS padded_to
        FROM range(${N}) r(i) ORDER BY random()
      ) TO '${file}' (FORMAT parquet)`);
  });
}

describe('readSequences', () => {
  it('reads every user across chunks, sorted by id, left-padded', async () => {
    const file = join(tempDir('fc-seqs-'), 'sequences.parquet');
    await writeSequences(file);
    const s = await withDuckDB(':memory:', (conn) => readSequences(conn, file));
    assert.equal(s.ids.length, N);
    assert.equal(s.length, T);
    for (const i of [0, 1, 2047, 2048, 2049, 4095, 4096, N - 1]) {
      assert.equal(s.ids[i], `u${String(i).padStart(5, '0')}`);
      assert.equal(s.labels[i], i % 7 === 0 ? 1 : 0);
      const len = 1 + (i % T);
      const tokens = [...s.tokens.subarray(i * T, (i + 1) * T)];
      assert.deepEqual(tokens, [
        ...Array<number>(T - len).fill(0),
        ...Array.from({ length: len }, (_, t) => 1 + ((i + t) % 3)),
      ]);
      const last = (i + 1) * T - 1; // the last event sits at step T - 1
      assert.deepEqual([s.numeric[last * 2], s.numeric[last * 2 + 1]], [i + len - 1, len - 1]);
    }
  });

  it('refuses a set larger than the memory budget, naming the setting', async () => {
    const file = join(tempDir('fc-seqs-'), 'sequences.parquet');
    await writeSequences(file);
    const before = process.env.FUNNELCAST_MEMORY;
    process.env.FUNNELCAST_MEMORY = '200KiB'; // 5,000 users × 6 steps need ~0.5 MB
    try {
      await assert.rejects(
        withDuckDB(':memory:', (conn) => readSequences(conn, file)),
        (e: Error) => e instanceof MemoryBudgetError && /FUNNELCAST_MEMORY/.test(e.message),
      );
    } finally {
      if (before === undefined) delete process.env.FUNNELCAST_MEMORY;
      else process.env.FUNNELCAST_MEMORY = before;
    }
  });
});
