/**
 * Run by test/unit/warehouse/disk-full.test.ts inside `unshare -rm` with a small tmpfs at argv[2]: writes an export
 * (DuckDB COPY to a temp name, then rename) and delivers it (copy to a temp name, then rename) while the disk is
 * full, then again once space is freed. Prints one JSON object describing what was left in between.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../warehouse/db';
import { copyAtomic } from '../../segments';
import { deliverExports } from '../../segments/deliver';

const attempt = async (fn: () => Promise<unknown> | unknown) => {
  try {
    await fn();
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

async function main(small: string, bigFile: string) {
  const out = join(small, 'list.csv');
  const root = join(small, 'exports');
  const manifest = join(small, 'manifest.json');
  writeFileSync(manifest, '{}');
  const big = `SELECT range AS id, repeat('x', 40) || range AS v FROM range(50000)`;
  await withDuckDB(':memory:', async (conn) => {
    await copyAtomic(conn, `SELECT 1 AS id, 'old' AS v`, out, 'csv');
    const deliverSmall = () =>
      deliverExports({ root, destination: 'crm', cutoff: '2024-01-01', files: [out], manifestPath: manifest });
    deliverSmall();
    writeFileSync(join(small, 'filler'), Buffer.alloc(6_500_000));
    const copyError = await attempt(() => copyAtomic(conn, big, out, 'csv'));
    const deliverError = await attempt(() =>
      deliverExports({ root, destination: 'crm', cutoff: '2024-01-02', files: [bigFile], manifestPath: manifest }),
    );
    const left = {
      list: readFileSync(out, 'utf8'),
      delivered: readdirSync(join(root, 'crm')).sort(),
      temps: [...readdirSync(small), ...readdirSync(join(root, 'crm'))].filter((f) => f.includes('.tmp-')),
    };
    rmSync(join(small, 'filler'));
    await copyAtomic(conn, big, out, 'csv');
    deliverExports({ root, destination: 'crm', cutoff: '2024-01-02', files: [bigFile], manifestPath: manifest });
    const rows = readFileSync(out, 'utf8').trim().split('\n').length - 1;
    const bigDelivered = readFileSync(join(root, 'crm', 'big.csv')).length === readFileSync(bigFile).length;
    console.log(JSON.stringify({ copyError, deliverError, left, rerun: { rows, bigDelivered } }));
  });
}

void main(process.argv[2], process.argv[3]);
