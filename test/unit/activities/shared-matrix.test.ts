/**
 * Training memory (issue 17): every fold's activity used to read the whole feature table into Float32 columns
 * and copy its training rows (5.3–5.9 GB RSS each at 10 M events). Now the folds and the holdout model of a table
 * share one binned matrix per process (1 byte per value, one SharedArrayBuffer), and a table larger than the
 * memory budget is refused with a message that names FUNNELCAST_MEMORY and the size needed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { trainModel, type TrainInput } from '../../../activities/train';
import { modelSpec } from '../../../pipelines/schema/model';
import { withDuckDB } from '../../../warehouse/db';
import { acquireBinnedTable, binnedTableReads, borrowTablesFrom, clearBinnedTables } from '../../../warehouse/binned';
import { readFeatureTable } from '../../../warehouse/matrix';
import { tempDir } from '../../helpers/warehouse';
import type { Split } from '../../../activities/split';
import { offThread, tableLender, trainingIsolation } from '../../../activities/offthread';
import { TableLender, type LentTable } from '../../../warehouse/binned-share';
import type { TrainResult } from '../../../workflows/types';

async function featureTable(rows: number): Promise<string> {
  const file = join(tempDir('fc-shared-data-'), 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN f1 + 0.6 * f2 + 0.3 * noise > 1.0 THEN 1 ELSE 0 END AS label, f1, f2, f3, f4
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS f1, (hash(i * 7 + 1) % 1000) / 1000.0 AS f2,
                   (hash(i * 11 + 3) % 1000) / 1000.0 AS f3, (hash(i * 5 + 2) % 100)::DOUBLE AS f4,
                   (hash(i * 13 + 5) % 1000) / 1000.0 AS noise
            FROM range(${rows}) t(i))
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

const input = (featuresPath: string, runDir: string, split: Split): TrainInput => ({
  runDir,
  featuresPath,
  sequencesPath: '',
  vocabPath: '',
  model: modelSpec.parse({ engine: 'forest', seed: 3, forest: { nTrees: 20, maxDepth: 6 } }),
  engine: 'forest',
  split,
});

const env = () => new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });

describe('training memory', () => {
  it('the folds and the holdout model of a table train on one shared binned matrix', async () => {
    clearBinnedTables();
    const file = await featureTable(6_000);
    const runDir = tempDir('fc-shared-run-');
    const before = binnedTableReads();
    const folds: TrainResult[] = await Promise.all(
      [0, 1, 2].map(
        (i) =>
          env().run(
            trainModel,
            input(file, runDir, { kind: 'fold', strategy: 'kfold', k: 3, i }),
          ) as Promise<TrainResult>,
      ),
    );
    const hold: TrainResult = await env().run(trainModel, input(file, runDir, { kind: 'holdout' }));
    assert.equal(binnedTableReads() - before, 1, 'three folds and the holdout model read the table once');
    for (const r of [...folds, hold]) assert.ok(r.metrics!.roc_auc > 0.85, `AUC ${r.metrics!.roc_auc}`);
    assert.equal(
      folds.reduce((s, r) => s + r.nTest, 0),
      6_000,
      'the folds still partition the rows',
    );

    // One allocation: 1 byte per value, in shared memory (worker threads read it without a copy).
    const a = await acquireBinnedTable(file);
    const b = await acquireBinnedTable(file);
    try {
      assert.equal(a.table.bins.shared.buffer, b.table.bins.shared.buffer);
      assert.ok(a.table.bins.shared.buffer instanceof SharedArrayBuffer);
      assert.equal(a.table.bins.shared.byteLength, 6_000 * 4, '6,000 rows × 4 features, one byte each');
      assert.equal(binnedTableReads() - before, 1);
    } finally {
      a.release();
      b.release();
      clearBinnedTables();
    }
  });

  it('activities on worker threads read the table once per process: the first thread lends it to the others', async () => {
    const file = await featureTable(6_000);
    const runDir = tempDir('fc-lent-run-');
    const onThread = offThread('trainModel', trainModel, trainingIsolation);
    const lender = tableLender();
    lender.clear();
    const [stored, lent] = [lender.stored, lender.lent];
    const fold = (i: number) => input(file, runDir, { kind: 'fold', strategy: 'kfold', k: 3, i });
    // Two at a time, as the CPU queue's two slots run them: the second asks while the first is reading.
    const first = (await Promise.all([0, 1].map((i) => env().run(onThread, fold(i))))) as TrainResult[];
    const rest: TrainResult[] = [
      await env().run(onThread, fold(2)),
      await env().run(onThread, input(file, runDir, { kind: 'holdout' })),
    ];
    assert.equal(lender.stored - stored, 1, 'one thread read the table');
    assert.equal(lender.lent - lent, 3, 'the other three borrowed it');
    assert.equal(lender.size, 1);
    // The same models as when each thread reads its own table (on the main thread here).
    clearBinnedTables();
    const alone = input(file, tempDir('fc-lent-alone-'), { kind: 'holdout' });
    const own: TrainResult = await env().run(trainModel, alone);
    assert.equal(rest[1].metrics!.roc_auc, own.metrics!.roc_auc);
    assert.equal(rest[1].metrics!.log_loss, own.metrics!.log_loss);
    assert.equal(
      [...first, rest[0]].reduce((s, r) => s + r.nTest, 0),
      6_000,
      'the folds still partition the rows',
    );
    lender.clear();
    clearBinnedTables();
  });

  it('a table being read is waited for, and read again when its reader stops without it', async () => {
    const lender = new TableLender(() => 1e9, 60_000);
    const [a, b, c] = [{}, {}, {}];
    assert.deepEqual(lender.answer(a, { kind: 'binnedTable', key: 'k' }), { read: true });
    const waitingB = lender.answer(b, { kind: 'binnedTable', key: 'k' });
    lender.abandon(a); // a was cancelled mid-read
    assert.deepEqual(await waitingB, { read: true }, 'b reads it now');
    const waitingC = lender.answer(c, { kind: 'binnedTable', key: 'k' });
    const table = { bytes: 10 } as LentTable;
    assert.deepEqual(await lender.answer(b, { kind: 'binnedTableRead', key: 'k', table }), { stored: true });
    assert.equal(((await waitingC) as { table: LentTable }).table, table);
    assert.equal((lender.answer(a, { kind: 'binnedTable', key: 'k' }) as { table: LentTable }).table, table);
    lender.clear();
  });

  it('a thread whose starter cannot lend tables reads the table itself', async () => {
    clearBinnedTables();
    const file = await featureTable(3_000);
    const before = binnedTableReads();
    borrowTablesFrom(() => Promise.reject(new Error('this job was started without an onAsk to answer it')));
    try {
      const { table, release } = await acquireBinnedTable(file);
      assert.equal(table.bins.nRows, 3_000);
      assert.equal(table.ids.at(2), 'u2');
      assert.equal(binnedTableReads() - before, 1);
      release();
    } finally {
      borrowTablesFrom(null);
      clearBinnedTables();
    }
  });

  it('a table larger than FUNNELCAST_MEMORY is refused, naming the setting and the size needed', async () => {
    clearBinnedTables();
    const file = await featureTable(20_000);
    const saved = process.env.FUNNELCAST_MEMORY;
    process.env.FUNNELCAST_MEMORY = '256KB';
    try {
      const inp = input(file, tempDir('fc-budget-run-'), { kind: 'fold', strategy: 'kfold', k: 3, i: 0 });
      await assert.rejects(env().run(trainModel, inp), (e: Error & { nonRetryable?: boolean }) => {
        assert.match(e.message, /needs about [\d.]+ [KMG]iB in memory, more than the memory budget/);
        assert.match(e.message, /set FUNNELCAST_MEMORY to at least/);
        assert.equal(e.nonRetryable, true, 'retrying the same step with the same budget cannot help');
        return true;
      });
      // The Float32 read (other engines, scoring, `funnelcast evaluate`) refuses the same way before allocating.
      await assert.rejects(
        withDuckDB(':memory:', (conn) => readFeatureTable(conn, file, { label: 'label', idColumn: 'user_id' })),
        /needs about .* set FUNNELCAST_MEMORY to at least/,
      );
      process.env.FUNNELCAST_MEMORY = '64MB';
      const t = await withDuckDB(':memory:', (conn) =>
        readFeatureTable(conn, file, { label: 'label', idColumn: 'user_id' }),
      );
      assert.equal(t.x.nRows, 20_000, 'within the budget the same table reads');
    } finally {
      if (saved === undefined) delete process.env.FUNNELCAST_MEMORY;
      else process.env.FUNNELCAST_MEMORY = saved;
      clearBinnedTables();
    }
  });
});
