/**
 * How the segments step reads the scored users (segments/index.ts): one positional scan of features, scores and
 * reasons when they line up, else joins by user id.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../warehouse/db';
import type { SegmentsOptions } from '.';

/**
 * How the scored users are read with their features (alias f), scores (s) and reasons (r): the score step writes
 * scores and reasons in the feature table's order, so one positional scan of the three files does (no hash join
 * of 4.3 M user ids, three times, and no sort by user id at the end: the rows are in the feature table's order, by
 * user id). Files in another order (written by something else) are joined by user id and sorted, as before.
 */
export interface UsersScan {
  positional: boolean;
  /** FROM clause with scores and features; `withReasons` adds the reasons. */
  from: string;
  /** The scored users' features (alias f): the feature table itself when every user in it is scored. */
  features: string;
  withReasons: string;
  /** A unique key for ties and joining the ranks back: the feature table's row (positional), else the user id. */
  key: string;
}

export async function usersScan(conn: DuckDBConnection, o: SegmentsOptions, reasons: boolean): Promise<UsersScan> {
  const [F, S, R] = [o.featuresPath, o.scoresPath, o.reasonsPath ?? ''].map((f) => `read_parquet(${quoteLiteral(f)})`);
  const ids = (rel: string) => `(SELECT user_id FROM ${rel})`;
  const check = await conn.runAndReadAll(
    `SELECT count(*) FILTER (WHERE s.user_id IS DISTINCT FROM f.user_id${reasons ? ' OR r.user_id IS DISTINCT FROM f.user_id' : ''})
     FROM ${ids(F)} f POSITIONAL JOIN ${ids(S)} s${reasons ? ` POSITIONAL JOIN ${ids(R)} r` : ''}`,
  );
  if (Number(check.getRows()[0][0]) === 0) {
    const from = `read_parquet(${quoteLiteral(o.featuresPath)}, file_row_number = true) f POSITIONAL JOIN ${S} s`;
    const withReasons = `${from} POSITIONAL JOIN ${R} r`;
    return { positional: true, from, features: `${F} f`, withReasons, key: '__row' };
  }
  const from = `${S} s JOIN ${F} f USING (user_id)`;
  return {
    positional: false,
    from,
    features: from,
    withReasons: `${from} LEFT JOIN ${R} r USING (user_id)`,
    key: 'user_id',
  };
}
