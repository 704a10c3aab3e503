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

/** `rows` users: the label depends on a and b; `extra` more columns of noise (c0, c1, …) widen the table. */
async function table(rows: number, extra = 0): Promise<string> {
  const file = join(tempDir('fc-eval-scale-'), 'features.parquet');
  const noise = Array.from({ length: extra }, (_, j) => `, (hash(i * ${j + 17} + 3) % 1000) / 1000.0 AS c${j}`).join('');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN a + 0.5 * b + 0.4 * noise > 1.0 THEN 1 ELSE 0 END AS label, a, b ${noise}
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS a, (hash(i * 7 + 1) % 1000) / 1000.0 AS b,
                   (hash(i * 13 + 5) % 1000) / 1000.0 AS noise FROM range(${rows}) t(i))
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

async function withMemory<T>(setting: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.FUNNELCAST_MEMORY;
  process.env.FUNNELCAST_MEMORY = setting;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.FUNNELCAST_MEMORY;
    else process.env.FUNNELCAST_MEMORY = saved;
  }
}

const evaluate = (file: string, model = 'lr') =>
  runCli(evaluateCommand, [
    '--data',
    file,
    '--label',
    'label',
    '--id-column',
    'user_id',
    '--model',
    model,
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
    await withMemory('1MB', () =>
      assert.rejects(evaluate(file), (e: Error) => {
        assert.equal(exitCodeOf(e), 3, 'bad input, not a crash');
        assert.match(e.message, /needs about \d+ MiB in memory, more than the memory budget of 977 KiB/);
        assert.match(e.message, /set FUNNELCAST_MEMORY to at least \d+ MiB/);
        return true;
      }),
    );
  });

  // 20,000 rows × 40 features: about 4.2 MB as Float32 columns (with ids and labels), 1.8 MB binned to a byte.
  it('cross-validates the forest on the table binned once: it fits a budget the Float32 table does not', async () => {
    const file = await table(20_000, 38);
    const r = await withMemory('3MB', () => evaluate(file, 'forest'));
    assert.equal(r.code, 0);
    const j = JSON.parse(r.out) as { rows: number; features: number; mean: { roc_auc: number } };
    assert.equal(j.rows, 20_000);
    assert.equal(j.features, 40);
    assert.ok(j.mean.roc_auc > 0.8, `AUC ${j.mean.roc_auc}`);
  });

  it('refuses a forest whose binned table is over FUNNELCAST_MEMORY, naming the setting and the size (exit 3)', async () => {
    const file = await table(20_000, 38);
    await withMemory('1MB', () =>
      assert.rejects(evaluate(file, 'forest'), (e: Error) => {
        assert.equal(exitCodeOf(e), 3, 'bad input, not a crash');
        assert.match(e.message, /binned for training \(20000 rows × 40 features\) needs about 2 MiB in memory/);
        assert.match(e.message, /set FUNNELCAST_MEMORY to at least 2 MiB/);
        return true;
      }),
    );
  });
});
