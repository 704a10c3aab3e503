/**
 * `funnelcast evaluate` on large tables (issue 17: on the 10 M run's 3.26 M-row feature table it died with
 * "JavaScript heap out of memory"): the table is streamed into Float32 columns, the pooled out-of-fold
 * predictions never go through a spread call, and a table over the memory budget is refused with a message that
 * names FUNNELCAST_MEMORY and the size needed (exit 3, bad input), never a crash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { evaluateCommand } from '../../../cli/evaluate';
import { exitCodeOf } from '../../../cli/failure';
import { withDuckDB } from '../../../warehouse/db';
import { runCli } from '../../helpers/cli';
import { tempDir } from '../../helpers/warehouse';

async function table(rows: number): Promise<string> {
  const file = join(tempDir('fc-eval-scale-'), 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN a + 0.5 * b + 0.4 * noise > 1.0 THEN 1 ELSE 0 END AS label, a, b
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS a, (hash(i * 7 + 1) % 1000) / 1000.0 AS b,
                   (hash(i * 13 + 5) % 1000) / 1000.0 AS noise FROM range(${rows}) t(i))
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

const evaluate = (file: string) =>
  runCli(evaluateCommand, [
    '--data',
    file,
    '--label',
    'label',
    '--id-column',
    'user_id',
    '--model',
    'lr',
    '--folds',
    '2',
    '--json',
  ]);

describe('funnelcast evaluate at scale', () => {
  it('cross-validates a table whose folds hold 160,000 rows each (a spread call overflowed the stack)', async () => {
    const r = await evaluate(await table(320_000));
    assert.equal(r.code, 0);
    const j = JSON.parse(r.out) as { rows: number; mean: { roc_auc: number } };
    assert.equal(j.rows, 320_000);
    assert.ok(j.mean.roc_auc > 0.8, `AUC ${j.mean.roc_auc}`);
  });

  it('refuses a table over FUNNELCAST_MEMORY with the setting and the size needed (exit 3)', async () => {
    const file = await table(50_000);
    const saved = process.env.FUNNELCAST_MEMORY;
    process.env.FUNNELCAST_MEMORY = '1MB';
    try {
      await assert.rejects(evaluate(file), (e: Error) => {
        assert.equal(exitCodeOf(e), 3, 'bad input, not a crash');
        assert.match(e.message, /needs about \d+ MiB in memory, more than the memory budget of 977 KiB/);
        assert.match(e.message, /set FUNNELCAST_MEMORY to at least \d+ MiB/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.FUNNELCAST_MEMORY;
      else process.env.FUNNELCAST_MEMORY = saved;
    }
  });
});
