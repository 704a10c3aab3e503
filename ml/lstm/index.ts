/**
 * The sequence model: each user's last N events (event-type tokens, log time gaps, log revenue; left-padded,
 * token 0 = padding) → embedding + numeric inputs → one or two LSTM layers (padding masked) → sigmoid.
 * Plain functions in the tfjs-examples style: createLstmModel (./model.ts), trainLstm (./train.ts), loadLstm
 * (./persist.ts). Tensors are made per batch (never one tensor of all sequences) and disposed; a checkpoint
 * (weights, epoch, best validation AUC, history) is written after every epoch and a repeated call resumes from it.
 * This file reads the sequences the features step wrote and re-exports the rest.
 */
import { readFileSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../../warehouse/db';
import { ID_BYTES, streamChunks } from '../../warehouse/matrix';
import { checkMemory } from '../../infra/memory';
import type { Sequences } from './batches';

export type { Sequences } from './batches';
export { usesFusedKernels } from './fused';

/** The token vocabulary written beside sequences.parquet (event name → token id). */
export function readVocab(file: string): Record<string, number> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
}

/** Sequences with the vocabulary their tokens use: what a scorer needs to re-express them for its model. */
export async function readSequencesWithVocab(conn: DuckDBConnection, sequencesPath: string, vocabPath: string) {
  return { data: await readSequences(conn, sequencesPath), vocab: readVocab(vocabPath) };
}

/**
 * Reads sequences.parquet (ragged lists, oldest event first) into left-padded arrays of `padded_to` steps, streamed
 * chunk by chunk: all rows at once (runAndReadAll) made three boxed lists per user before the first was copied —
 * 3.3 GB and ~100 s for the 3.2 M training users of 10 M events, in every fold's process. Refuses before allocating
 * when the arrays would not fit the memory budget (FUNNELCAST_MEMORY).
 */
export async function readSequences(conn: DuckDBConnection, file: string): Promise<Sequences> {
  const from = `read_parquet(${quoteLiteral(file)})`;
  const head = (await conn.runAndReadAll(`SELECT count(*), max(padded_to) FROM ${from}`)).getRows()[0];
  const n = Number(head[0]);
  const T = n ? Number(head[1]) : 0;
  // Tokens (Int32) and two Float32 inputs per step, a label and an id per user.
  checkMemory(`${file} (${n} sequences × ${T} steps)`, n * (T * 12 + 1 + ID_BYTES), 'lower model.lstm settings');
  const tokens = new Int32Array(n * T);
  const numeric = new Float32Array(n * T * 2);
  const labels = new Uint8Array(n);
  const ids: string[] = new Array(n);
  const sql = `SELECT CAST(user_id AS VARCHAR), coalesce(label, 0), tokens, gaps, revenue FROM ${from} ORDER BY user_id`;
  const read = await streamChunks(conn, sql, (chunk, at) => {
    const [id, label, tk, g, rv] = [0, 1, 2, 3, 4].map((j) => chunk.getColumnValues(j));
    for (let k = 0; k < chunk.rowCount; k++) {
      const i = at + k;
      ids[i] = String(id[k]);
      labels[i] = Number(label[k]);
      const [tki, gi, rvi] = [tk[k], g[k], rv[k]].map((v) => (v as { items: unknown[] }).items);
      const pad = T - tki.length; // left padding: the last event sits at step T - 1
      for (let t = 0; t < tki.length; t++) {
        tokens[i * T + pad + t] = Number(tki[t]);
        numeric[(i * T + pad + t) * 2] = Number(gi[t]);
        numeric[(i * T + pad + t) * 2 + 1] = Number(rvi[t]);
      }
    }
  });
  if (read !== n) throw new Error(`${file}: read ${read} sequences of ${n}`);
  return { ids, labels, tokens, numeric, length: T };
}

/** Concatenates two sequence sets of the same length (the two cutoffs of a time fold). */
export function concatSequences(a: Sequences, b: Sequences): Sequences {
  if (a.length !== b.length) throw new Error(`sequence lengths differ: ${a.length} vs ${b.length}`);
  const cat = <T extends Int32Array | Float32Array | Uint8Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return {
    ids: [...a.ids, ...b.ids],
    labels: cat(a.labels, b.labels, (n) => new Uint8Array(n)),
    tokens: cat(a.tokens, b.tokens, (n) => new Int32Array(n)),
    numeric: cat(a.numeric, b.numeric, (n) => new Float32Array(n)),
    length: a.length,
  };
}

/**
 * Token ids come from each cutoff's vocabulary (event names sorted): re-express `s` in the vocabulary a model was
 * trained with, so a name keeps its meaning; an event type the model never saw becomes padding (ignored). `s`
 * itself when nothing changes (the usual case: the same event types), not a copy of its tokens (4.3 M users × 30
 * steps, 0.5 GB, at scoring time). Callers never write into the result.
 */
export function remapTokens(s: Sequences, from: Record<string, number>, to: Record<string, number>): Sequences {
  const map = new Int32Array(Math.max(0, ...Object.values(from)) + 1);
  for (const [name, id] of Object.entries(from)) map[id] = to[name] ?? 0;
  if (map.every((v, t) => v === t) && s.tokens.every((t) => t < map.length)) return s;
  const tokens = new Int32Array(s.tokens.length); // a loop: Int32Array.from with a callback is ~10x slower
  for (let j = 0; j < tokens.length; j++) {
    const t = s.tokens[j];
    tokens[j] = t < map.length ? map[t] : 0;
  }
  return { ...s, tokens };
}

export * from './model';
export * from './persist';
export * from './train';
