/**
 * A feature table as the forest trains on it: every value binned to one byte (ml/forest/binning), all columns in
 * one SharedArrayBuffer, streamed from DuckDB chunk by chunk so the Float32 table never exists in memory. One
 * such table per file and process is shared by every fold and the holdout model that train on it (they differ
 * only in which rows they use), instead of each activity reading and copying the whole table.
 */
import { statSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { allocateBins, binEdges, binInto } from '../ml/forest/binning';
import { checkMemory, memoryBudget } from '../infra/memory';
import { withDuckDB } from './db';
import { fromLent, SharedIds, toLent, type BinnedTable, type TableAnswer, type TableQuestion } from './binned-share';
import {
  chunkDoubles,
  FeatureTableError,
  ID_BYTES,
  singleClassError,
  streamChunks,
  withFeatureQuery,
  type ReadOptions,
} from './matrix';

export type { BinnedTable };

/** Rows the bin edges are computed from (every row of smaller tables, as binMatrix does). */
const EDGE_SAMPLE = 200_000;

/**
 * Reads `file` binned: first an evenly spaced sample of at most 200,000 rows for each column's bin edges, then
 * every row streamed and binned chunk by chunk. Refuses, naming FUNNELCAST_MEMORY, when the binned table would
 * not fit the memory budget.
 */
export async function readBinnedTable(
  conn: DuckDBConnection,
  file: string,
  opts: ReadOptions & { label: string; maxBins: number },
): Promise<BinnedTable> {
  return withFeatureQuery(conn, file, opts, async (q) => {
    const n = q.n;
    const nF = q.encoding.columns.length;
    const bytes = n * (nF + 1 + ID_BYTES);
    checkMemory(`${file} binned for training (${n} rows × ${nF} features)`, bytes, 'train on a sample of the users');
    const stride = Math.max(1, Math.ceil(n / EDGE_SAMPLE));
    const sample = q.exprs.map(() => new Float32Array(Math.ceil(n / stride)));
    const sampled = await streamChunks(
      conn,
      `SELECT ${q.exprs.map((e, j) => `${e} AS c${j}`).join(', ')} FROM ${q.view} WHERE (__row - 1) % ${stride} = 0`,
      (chunk, at) => {
        for (let j = 0; j < nF; j++) sample[j].set(chunkDoubles(chunk, j), at);
      },
    );
    const edges = sample.map((c) => binEdges(c.subarray(0, sampled), opts.maxBins));
    const bins = allocateBins(n, edges);
    const ids = new Array<string>(n);
    const y = new Uint8Array(new SharedArrayBuffer(Math.max(1, n))).subarray(0, n);
    const read = await streamChunks(conn, q.sql, (chunk, at) => {
      const id = chunk.getColumnValues(0);
      for (let r = 0; r < id.length; r++) ids[at + r] = String(id[r]);
      const lab = chunk.getColumnValues(1);
      for (let r = 0; r < lab.length; r++) y[at + r] = Number(lab[r]);
      for (let j = 0; j < nF; j++) binInto(bins, j, at, chunkDoubles(chunk, j + 2));
    });
    if (read !== n) throw new Error(`${file}: read ${read} rows, expected ${n}`);
    const single = singleClassError(file, opts.label, y);
    if (single) throw single;
    const names = q.encoding.columns.map((c) => c.name);
    // Ids in shared memory too, so the table can be lent to other threads (warehouse/binned-share).
    return { bins, names, y, ids: SharedIds.encode(ids), encoding: q.encoding, bytes };
  });
}

interface Entry {
  table: Promise<BinnedTable>;
  users: number;
  idle?: NodeJS.Timeout;
}
const cache = new Map<string, Entry>();
let reads = 0;

/** How many binned tables this thread has read (the folds of one table share one). */
export const binnedTableReads = () => reads;

/** Asks the process that started this thread for a table (activities/thread-entry sets it on training threads). */
type Ask = (q: TableQuestion) => Promise<TableAnswer>;
let askProcess: Ask | null = null;
export function borrowTablesFrom(ask: Ask | null): void {
  askProcess = ask;
}

/** The table as the process lends it, or read here (and handed to the process) when nobody has it yet. */
async function lentOrRead(key: string, read: () => Promise<BinnedTable>): Promise<BinnedTable> {
  const ask = askProcess;
  if (!ask) {
    reads++;
    return read();
  }
  // A caller that cannot lend (no onAsk) is no reason to fail: this thread reads the table itself.
  const a: TableAnswer = await ask({ kind: 'binnedTable', key }).catch(() => ({ read: true }) as const);
  if ('table' in a) return fromLent(a.table);
  reads++;
  let t: BinnedTable;
  try {
    t = await read();
  } catch (e) {
    await ask({ kind: 'binnedTableRead', key, table: null }).catch(() => undefined);
    throw e;
  }
  await ask({ kind: 'binnedTableRead', key, table: toLent(t) }).catch(() => undefined);
  return t;
}

/** How long a table nobody trains on stays cached: the holdout models start a little after the folds end. */
export const IDLE_MS = 120_000;

/**
 * The binned table of `file`, read once per process while it is in use or was in use within IDLE_MS: the folds and
 * holdout models of a run (concurrent or one after another) get the same object. Call `release` when done.
 * Older idle tables are dropped first when the cached ones would pass half the memory budget.
 */
export async function acquireBinnedTable(
  file: string,
  maxBins = 255,
  label = 'label',
  idColumn = 'user_id',
): Promise<{ table: BinnedTable; release: () => void }> {
  // A missing table is the same bad input the float reader reports (FeatureTableError: not retried).
  const st = (() => {
    try {
      return statSync(file);
    } catch (e) {
      throw new FeatureTableError(`cannot read ${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  })();
  const key = JSON.stringify([file, st.size, st.mtimeMs, maxBins, label, idColumn]);
  const cached = cache.get(key);
  const entry: Entry = cached ?? {
    table: lentOrRead(key, () =>
      withDuckDB(':memory:', (conn) => readBinnedTable(conn, file, { label, idColumn, maxBins })),
    ),
    users: 0,
  };
  if (!cached) {
    entry.table.then(
      () => evict(key),
      () => cache.get(key) === entry && cache.delete(key), // a failed read is not kept: the retry reads again
    );
  }
  cache.delete(key); // re-inserted: most recently used last
  cache.set(key, entry);
  entry.users++;
  if (entry.idle) clearTimeout(entry.idle);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (--entry.users > 0) return;
    entry.idle = setTimeout(() => cache.get(key) === entry && cache.delete(key), IDLE_MS);
    entry.idle.unref();
  };
  try {
    return { table: await entry.table, release };
  } catch (err) {
    release();
    throw err;
  }
}

async function evict(keep: string) {
  const entries = [...cache.entries()];
  const sizes = await Promise.all(entries.map(([, e]) => e.table.then((t) => t.bytes).catch(() => 0)));
  let total = 0;
  for (let k = entries.length - 1; k >= 0; k--) {
    total += sizes[k];
    const [key, e] = entries[k];
    if (key !== keep && e.users === 0 && total > memoryBudget() / 2) cache.delete(key);
  }
}

/** Drops every cached table (tests). */
export function clearBinnedTables(): void {
  for (const e of cache.values()) if (e.idle) clearTimeout(e.idle);
  cache.clear();
}
