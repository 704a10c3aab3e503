import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commitTemp, tempNameFor, writeFileAtomic, WriteCancelledError } from '../../../infra/atomic';
import { withDuckDB } from '../../../warehouse/db';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { tempDir } from '../../helpers/warehouse';

describe('atomic writes', () => {
  it('gives every writer its own temp name, even in one process', () => {
    const f = join(tempDir('fc-atomic-'), 'a.json');
    const names = new Set([
      tempNameFor(f),
      tempNameFor(f),
      tempNameFor(f, { tag: 'a1' }),
      tempNameFor(f, { tag: 'a1' }),
    ]);
    assert.equal(names.size, 4);
    assert.ok([...names].every((n) => n.startsWith(`${f}.tmp-${process.pid}`)));
  });

  it('a rename whose temp vanished is not an ENOENT crash when the file is there, and says what happened when not', () => {
    const dir = tempDir('fc-atomic-');
    const f = join(dir, 'a.json');
    writeFileSync(f, 'done');
    assert.doesNotThrow(() => commitTemp(join(dir, 'a.json.tmp-gone'), f));
    rmSync(f);
    assert.throws(
      () => commitTemp(join(dir, 'a.json.tmp-gone'), f),
      (e: Error) => /vanished before it could become/.test(e.message) && !('code' in e),
    );
  });

  it('leaves a file that already has the same bytes as it is, and a cancelled writer writes nothing', () => {
    const dir = tempDir('fc-atomic-');
    const f = join(dir, 'a.json');
    writeFileAtomic(f, 'same');
    const before = statSync(f);
    writeFileAtomic(f, 'same');
    assert.equal(statSync(f).ino, before.ino, 'not replaced');
    const c = new AbortController();
    c.abort(new Error('attempt cancelled'));
    assert.throws(() => writeFileAtomic(f, 'newer', { signal: c.signal }), WriteCancelledError);
    assert.equal(readFileSync(f, 'utf8'), 'same');
    assert.deepEqual(readdirSync(dir), ['a.json']);
  });

  it('two writers of one Parquet file at once in one process both finish, with no temp left', async () => {
    const dir = tempDir('fc-atomic-');
    const f = join(dir, 'p.parquet');
    const values = Array.from({ length: 5_000 }, (_, i) => i / 7);
    await withDuckDB(':memory:', async (c1) =>
      withDuckDB(':memory:', async (c2) => {
        const cols = [{ name: 'score', type: 'DOUBLE' as const, values }];
        await Promise.all([
          writeColumnsToParquet(c1, f, cols, { tag: 'a1' }),
          writeColumnsToParquet(c2, f, cols, { tag: 'a2' }),
        ]);
        const n = (await c1.runAndReadAll(`SELECT count(*) FROM read_parquet($p)`, { p: f })).getRows()[0][0];
        assert.equal(Number(n), values.length);
      }),
    );
    assert.ok(existsSync(f));
    assert.deepEqual(readdirSync(dir), ['p.parquet']);
  });
});
