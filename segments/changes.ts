/** What changed since the previous run: RFM segment sizes, who moved between segments, and list overlap. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../warehouse/db';

export interface ChangeReport {
  previousRun: string;
  rfmBefore: Record<string, number>;
  rfmAfter: Record<string, number>;
  movers: { from: string; to: string; users: number }[];
  campaignOverlap: { campaign: string; before: number; after: number; both: number; jaccard: number }[];
}

export async function compareWithPrevious(
  conn: DuckDBConnection,
  prevDir: string,
  campaigns: { name: string; parquetPath: string }[],
): Promise<ChangeReport | null> {
  const prevSeg = join(prevDir, 'segments.parquet');
  if (!existsSync(prevSeg)) return null;
  const before = await conn.runAndReadAll(
    `SELECT rfm_segment, count(*) FROM read_parquet(${quoteLiteral(prevSeg)}) GROUP BY 1 ORDER BY 1`,
  );
  const after = await conn.runAndReadAll(`SELECT rfm_segment, count(*) FROM segments GROUP BY 1 ORDER BY 1`);
  const movers = await conn.runAndReadAll(
    `SELECT p.rfm_segment, s.rfm_segment, count(*) FROM read_parquet(${quoteLiteral(prevSeg)}) p JOIN segments s USING (user_id)
     WHERE p.rfm_segment <> s.rfm_segment GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 30`,
  );
  const overlap: ChangeReport['campaignOverlap'] = [];
  for (const c of campaigns) {
    const prev = join(prevDir, 'exports', `${c.name}.parquet`);
    if (!existsSync(prev)) continue;
    const [b, a, both] = (
      await conn.runAndReadAll(
        `SELECT (SELECT count(*) FROM read_parquet(${quoteLiteral(prev)})), (SELECT count(*) FROM read_parquet(${quoteLiteral(c.parquetPath)})),
                (SELECT count(*) FROM read_parquet(${quoteLiteral(prev)}) p JOIN read_parquet(${quoteLiteral(c.parquetPath)}) q USING (user_id))`,
      )
    )
      .getRows()[0]
      .map(Number);
    overlap.push({
      campaign: c.name,
      before: b,
      after: a,
      both,
      jaccard: a + b - both > 0 ? both / (a + b - both) : 1,
    });
  }
  const toMap = (r: unknown[][]) => Object.fromEntries(r.map(([k, n]) => [String(k), Number(n)]));
  return {
    previousRun: JSON.parse(readFileSync(join(prevDir, 'exports', 'manifest.json'), 'utf8')).runId ?? prevDir,
    rfmBefore: toMap(before.getRows()),
    rfmAfter: toMap(after.getRows()),
    movers: movers.getRows().map(([from, to, n]) => ({ from: String(from), to: String(to), users: Number(n) })),
    campaignOverlap: overlap,
  };
}
