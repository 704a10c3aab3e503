/**
 * The tables `npm run bench -- calibration` measures: each pipeline's training table as a run at its default cutoff
 * builds it (features at the training cutoff, one horizon before the cutoff), the scoring table at the cutoff
 * itself when its outcomes are known, a generated event log of 60,000 users (the sample's shape, 15× larger) and
 * a generated marketing-like table.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../infra/root';
import type { FeatureMatrix } from '../../ml/classifier';
import { mulberry32, normal } from '../../ml/random';
import { writeEventsCsv } from '../../data/generator';
import { loadPipeline } from '../../pipelines/load';
import { modelSpec, type ModelSpec } from '../../pipelines/schema/model';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures, defaultCutoff, trainingCutoffFor } from '../../warehouse/features';
import { readFeatureTable, type FeatureEncoding } from '../../warehouse/matrix';

export interface Table {
  x: FeatureMatrix;
  y: Uint8Array;
  ids: string[];
  model: ModelSpec;
  encoding?: FeatureEncoding;
}

export interface PipelineTables {
  /** The table the run trains, cross-validates and holds users out of (features at the training cutoff). */
  train: Table;
  trainingCutoff: string;
  /** Every user scored at the cutoff, with the outcomes of the horizon after it (when the data has them). */
  scored: (Table & { cutoff: string }) | null;
  /** When the table is not the one a run at the default cutoff trains on, why. */
  note: string | null;
}

const cache = (name: string) => join(projectRoot(), 'bench', '.cache', `calibration-${name}`);

/** The sample's generator and definition at 60,000 users (the bundled sample has 4,000): seed 7, same 150 days. */
async function generatedPipeline(): Promise<string> {
  const dir = cache('generated');
  const file = join(dir, 'pipeline.json');
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const opts = { users: 60_000, seed: 7, days: 150, engagement: 10, start: '2024-01-01T00:00:00Z' };
  await writeEventsCsv(join(dir, 'events.csv.gz'), opts);
  const sample = loadPipeline('sample').definition;
  const def = {
    ...sample,
    name: 'generated',
    description: 'bench: the sample generator at 60,000 users (seed 7)',
    sources: { events: { ...sample.sources.events, path: 'events.csv.gz' } },
    campaigns: [],
    export: undefined,
  };
  writeFileSync(file, JSON.stringify(def));
  return file;
}

export async function pipelineTables(name: string): Promise<PipelineTables | null> {
  if (!['sample', 'generated'].includes(name) && !existsSync(join(projectRoot(), '..', 'shared', 'datasets')))
    return null;
  const loaded = loadPipeline(name === 'generated' ? await generatedPipeline() : name);
  const def = loaded.definition;
  return withDuckDB(':memory:', async (conn) => {
    await extractPipeline(conn, loaded);
    const cutoff = await defaultCutoff(conn, def);
    const read = async (c: Date, folder: string, encoding?: FeatureEncoding) => {
      const f = await buildFeatures(conn, def, { cutoff: c, outDir: join(cache(name), folder) });
      // A table with one class (or no users) cannot be trained on: its encoding is not even defined.
      if (f.positives === 0 || f.positives === f.users) return { f, t: null };
      const t = await readFeatureTable(conn, f.featuresPath, { label: 'label', idColumn: 'user_id', encoding });
      return { f, t: { x: t.x, y: t.y!, ids: t.ids, model: def.model, encoding: t.encoding } };
    };
    let trainingCutoff = await trainingCutoffFor(conn, def, cutoff);
    let train = await read(trainingCutoff, 'training');
    let note: string | null = null;
    if (!train.t) {
      // The run at the default cutoff has nothing to train on (CDNOW: one horizon before 1997-10-01 is the first
      // day of the data). Measure the live run's training table instead: the latest cutoff whose outcomes are known.
      const live = await trainingCutoffFor(conn, def, new Date(8.64e15));
      note =
        `a run at the default cutoff ${cutoff.toISOString().slice(0, 10)} trains at ${trainingCutoff.toISOString().slice(0, 10)}, ` +
        `where ${train.f.users} users have ${train.f.positives} positives: it cannot train. Measured on the live run's training table ` +
        `(cutoff ${live.toISOString().slice(0, 10)}, one horizon before the end of the data)`;
      trainingCutoff = live;
      train = await read(live, 'training-live');
      if (!train.t) throw new Error(`${name}: no trainable table at ${live.toISOString()} either`);
    }
    let scored: PipelineTables['scored'] = null;
    if (!note) {
      const s = await read(cutoff, 'scored', train.t.encoding);
      if (s.f.labelled && s.t) scored = { ...s.t, cutoff: cutoff.toISOString() };
    }
    return { train: train.t, trainingCutoff: trainingCutoff.toISOString(), scored, note };
  });
}

/** The shape of the public marketing table: ~11 % positives, a skewed duration, counts, noise. */
export function marketing(n: number, seed: number): Table {
  const rng = mulberry32(seed);
  const names = ['duration', 'previous', 'age', 'balance', 'contact', 'noise1', 'noise2'];
  const cols = names.map(() => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = [Math.exp(5.3 + 0.8 * normal(rng)), Math.floor(-Math.log(1 - rng()) * 0.6), 20 + 50 * rng()];
    v.push(1500 * normal(rng) + 800, rng() < 0.3 ? 1 : 0, normal(rng), normal(rng));
    const z =
      -3.3 +
      1.4 * Math.log(v[0] / 200) +
      0.6 * Math.min(v[1], 3) +
      (v[2] > 60 || v[2] < 25 ? 0.9 : 0) +
      0.0001 * v[3] +
      0.7 * v[4] * (v[0] > 300 ? 1 : 0);
    y[i] = rng() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    v.forEach((x, j) => (cols[j][i] = x));
  }
  const model = modelSpec.parse({ forest: { nTrees: 100 } });
  return { x: { nRows: n, names, columns: cols }, y, ids: Array.from({ length: n }, (_, i) => `m${i}`), model };
}
