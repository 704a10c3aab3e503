/**
 * What a unit of work leaves in DuckDB is freed by statements (off the event loop) before the synchronous close:
 * closeSync dropping a 4.3 M-row temp table and checkpointing the warehouse held the worker's main thread for 2 s
 * after the segments step of a 10 M-event run (issue 17). Also: the report's curves on a worker thread give what
 * the metrics give on this one, and the streamed sha256 of an export is the one-piece hash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { withDuckDB } from '../../../warehouse/db';
import { sha256File, sha256FileAsync } from '../../../registry';
import { runInThread } from '../../../infra/threads';
import { calibrationBins, liftByDecile, prCurve, rocCurve } from '../../../ml/metrics';
import type { Curves, CurvesJob } from '../../../report/curves-thread';
import { tempDir } from '../../helpers/warehouse';

/** The statements run and the synchronous closes, in order, while fn runs in withDuckDB(file). */
async function trace(file: string, fn: (conn: DuckDBConnection) => Promise<void>): Promise<string[]> {
  const log: string[] = [];
  const run = DuckDBConnection.prototype.run;
  const close = DuckDBConnection.prototype.closeSync;
  const closeInstance = DuckDBInstance.prototype.closeSync;
  DuckDBConnection.prototype.run = function (this: DuckDBConnection, sql: string, ...rest: unknown[]) {
    log.push(sql.replace(/\s+/g, ' ').trim());
    return (run as (...a: unknown[]) => ReturnType<typeof run>).call(this, sql, ...rest);
  } as typeof run;
  DuckDBConnection.prototype.closeSync = function (this: DuckDBConnection) {
    log.push('closeSync(connection)');
    return close.call(this);
  };
  DuckDBInstance.prototype.closeSync = function (this: DuckDBInstance) {
    log.push('closeSync(instance)');
    return closeInstance.call(this);
  };
  try {
    await withDuckDB(file, fn);
  } finally {
    DuckDBConnection.prototype.run = run;
    DuckDBConnection.prototype.closeSync = close;
    DuckDBInstance.prototype.closeSync = closeInstance;
  }
  return log;
}

describe('releasing DuckDB off the event loop', () => {
  it('drops the temp tables and views and checkpoints a file before the synchronous close', async () => {
    const file = join(tempDir('fc-release-'), 'w.duckdb');
    const log = await trace(file, async (conn) => {
      await conn.run('CREATE TABLE kept AS SELECT range AS i FROM range(1000)');
      await conn.run('CREATE TEMP TABLE big AS SELECT range AS i FROM range(100000)');
      await conn.run('CREATE TEMP VIEW v AS SELECT * FROM big');
    });
    const at = (re: RegExp) => log.findIndex((s) => re.test(s));
    const closed = at(/^closeSync\(connection\)$/);
    assert.ok(closed > 0, log.join('\n'));
    assert.ok(
      at(/^DROP TABLE IF EXISTS .*"big"$/) >= 0 && at(/^DROP TABLE IF EXISTS .*"big"$/) < closed,
      log.join('\n'),
    );
    assert.ok(at(/^DROP VIEW IF EXISTS .*"v"$/) >= 0 && at(/^DROP VIEW IF EXISTS .*"v"$/) < closed, log.join('\n'));
    assert.ok(at(/^CHECKPOINT$/) >= 0 && at(/^CHECKPOINT$/) < closed, log.join('\n'));
    assert.equal(at(/^DROP .*"kept"/), -1, 'a persistent table of the warehouse is kept');
    const kept = await withDuckDB(file, async (conn) =>
      (await conn.runAndReadAll('SELECT count(*) FROM kept')).getRows(),
    );
    assert.equal(Number(kept[0][0]), 1000);
  });

  it('drops every table of an in-memory database before closing it', async () => {
    const log = await trace(':memory:', async (conn) => {
      await conn.run('CREATE TABLE t AS SELECT range AS i FROM range(100000)');
    });
    const drop = log.findIndex((s) => /^DROP TABLE IF EXISTS .*"t"$/.test(s));
    assert.ok(drop >= 0 && drop < log.indexOf('closeSync(connection)'), log.join('\n'));
  });
});

describe('report curves and export hashes off the main thread', () => {
  it('the curves thread gives what the metrics give here', async () => {
    const n = 5000;
    const y = Float64Array.from({ length: n }, (_, i) => ((i * 7919) % 10 < 3 ? 1 : 0));
    const p = Float64Array.from({ length: n }, (_, i) => ((i * 104729) % 1000) / 1000);
    const expected = {
      roc: rocCurve(y, p),
      pr: prCurve(y, p),
      lift: liftByDecile(y, p),
      calibration: calibrationBins(y, p),
    };
    const got = await runInThread<Curves, CurvesJob>({
      file: join(__dirname, '..', '..', '..', 'report', 'curves-thread.js'),
      input: { y: y.slice(), p: p.slice() },
    });
    assert.deepEqual(got, expected);
  });

  it('sha256FileAsync is the sha256 of the whole file', async () => {
    const file = join(tempDir('fc-sha-'), 'x.bin');
    writeFileSync(file, Buffer.from(Array.from({ length: 3 * (1 << 20) + 17 }, (_, i) => (i * 31) & 255)));
    assert.equal(await sha256FileAsync(file), sha256File(file));
  });
});
