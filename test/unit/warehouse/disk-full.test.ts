/**
 * A full disk during extraction (issue 18): it used to end with DuckDB's `cannot rollback - no transaction is
 * active`, hiding the cause. Now: a clear "out of disk space" error naming the warehouse, nothing of the file kept,
 * and the same extract completes once space is freed. The disk is a 6 MB tmpfs in a private mount namespace
 * (`unshare -rm`, no root needed where user namespaces are enabled).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/warehouse';

const canUnshare = spawnSync('unshare', ['-rm', 'true']).status === 0;

describe('disk full', () => {
  it(
    'during extract: a clear error, nothing half written, and the rerun completes once space is freed',
    { skip: !canUnshare && 'needs `unshare -rm` (user namespaces) to mount a small tmpfs' },
    () => {
      const dir = tempDir('fc-full-');
      const rows = Array.from(
        { length: 60_000 },
        (_, i) => `user${i},2024-01-0${(i % 9) + 1}T10:${String(i % 60).padStart(2, '0')}:00Z,view,${i}.5`,
      );
      writeFileSync(join(dir, 'events.csv'), ['uid,time,type,amount', ...rows].join('\n') + '\n');
      const small = join(dir, 'small');
      mkdirSync(small);
      const child = join(__dirname, '..', '..', 'helpers', 'disk-full-child.js');
      const r = spawnSync(
        'unshare',
        [
          '-rm',
          'sh',
          '-c',
          `mount -t tmpfs -o size=6m tmpfs "$1" && exec "${process.execPath}" "${child}" "$1" "$2" 5000000`,
          'sh',
          small,
          dir,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        error: string;
        after: { events: number; files: number } | null;
        rerun: { read: number; loaded: number; quarantined: number };
      };
      assert.match(out.error, /^out of disk space while extracting into .*w\.duckdb/);
      assert.match(out.error, /nothing of the file being loaded was kept; free space and run again/);
      assert.doesNotMatch(out.error, /^TransactionContext|cannot rollback/);
      assert.ok(out.after === null || (out.after.events === 0 && out.after.files === 0), JSON.stringify(out.after));
      assert.deepEqual(out.rerun, { read: 60_000, loaded: 60_000, quarantined: 0 });
    },
  );

  it(
    'during export and delivery: a clear error, no temp or partial file, the previous files intact; the rerun completes',
    { skip: !canUnshare && 'needs `unshare -rm` (user namespaces) to mount a small tmpfs' },
    () => {
      const dir = tempDir('fc-full-');
      const bigFile = join(dir, 'big.csv');
      writeFileSync(bigFile, 'id,v\n' + 'x'.repeat(2_000_000) + '\n');
      const small = join(dir, 'small');
      mkdirSync(small);
      const child = join(__dirname, '..', '..', 'helpers', 'disk-full-export-child.js');
      const r = spawnSync(
        'unshare',
        [
          '-rm',
          'sh',
          '-c',
          `mount -t tmpfs -o size=8m tmpfs "$1" && exec "${process.execPath}" "${child}" "$1" "$2"`,
          'sh',
          small,
          bigFile,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        copyError: string;
        deliverError: string;
        left: { list: string; delivered: string[]; temps: string[] };
        rerun: { rows: number; bigDelivered: boolean };
      };
      assert.match(out.copyError, /^out of disk space while writing .*list\.csv: the previous export is untouched/);
      assert.match(
        out.deliverError,
        /^out of disk space while delivering .*big\.csv: the delivered files are the previous ones/,
      );
      assert.deepEqual(out.left, { list: 'id,v\n1,old\n', delivered: ['list.csv', 'manifest.json'], temps: [] });
      assert.deepEqual(out.rerun, { rows: 50_000, bigDelivered: true });
    },
  );
});
