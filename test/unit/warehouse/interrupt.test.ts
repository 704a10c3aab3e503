/**
 * A cancelled activity stops DuckDB's statement (warehouse/db.ts withDuckDB's signal): without it, a cancel during
 * a feature table over millions of users waited for the query to finish, and the run reported CANCELLED only then.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { tempDir } from '../../helpers/warehouse';

// Minutes of work for DuckDB: a hash over ten billion generated rows.
const LONG_QUERY = 'SELECT sum(hash(i)) FROM range(10000000000) t(i)';

describe('withDuckDB with a cancellation signal', () => {
  for (const file of [':memory:', 'file']) {
    it(`interrupts the running statement and throws the signal's reason (${file})`, async () => {
      const db = file === ':memory:' ? file : join(tempDir('fc-interrupt-'), 'w.duckdb');
      const abort = new AbortController();
      const reason = new Error('cancelled by the test');
      setTimeout(() => abort.abort(reason), 300);
      const started = performance.now();
      const e = await withDuckDB(db, (c) => c.run(LONG_QUERY), abort.signal).catch((x: unknown) => x);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(e, reason);
      assert.ok(seconds < 10, `stopped ${seconds.toFixed(1)} s after starting (the query alone takes minutes)`);
    });
  }

  it('interrupts a statement that starts after the abort landed between two statements', async () => {
    const abort = new AbortController();
    const e = await withDuckDB(
      ':memory:',
      async (c) => {
        await c.run('SELECT 1');
        abort.abort(new Error('between statements'));
        await c.run(LONG_QUERY);
      },
      abort.signal,
    ).catch((x: unknown) => x);
    assert.equal((e as Error).message, 'between statements');
  });

  it('leaves the database usable, and runs normally without an abort', async () => {
    const db = join(tempDir('fc-interrupt-'), 'w.duckdb');
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stop')), 200);
    await withDuckDB(db, (c) => c.run(LONG_QUERY), abort.signal).catch(() => undefined);
    const n = await withDuckDB(
      db,
      async (c) => (await c.runAndReadAll('SELECT 41 + 1 AS n')).getRows()[0][0],
      new AbortController().signal,
    );
    assert.equal(n, 42);
  });
});
