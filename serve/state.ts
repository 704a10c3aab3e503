/**
 * What the service answers from: one immutable snapshot of the champion (its model, its churn model, the lists
 * the latest live run scored with it, and the online feature store at that run's cutoff). The service swaps the
 * whole snapshot at once when the champion pointer moves, so no request ever mixes two versions.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openRegistry } from '../registry/open';
import { runScoredWith, type RunJson } from './runs';
import { paths } from '../infra/paths';
import { loadScorer, type Scorer } from '../ml/scorer';
import { columnSafe } from '../warehouse/names';
import { duckdbOptions, quoteLiteral } from '../warehouse/db';
import type { LoadedPipeline } from '../pipelines/load';
import { OnlineFeatures } from './online';

export interface UserRows {
  index: Map<string, number>;
  propensity: Float64Array;
  decile: Int32Array;
  churn: Float64Array;
  clv: Float64Array;
  /**
   * The distinct segment names and reason phrases, each with its JSON text. Users point into them: a million
   * users' phrases are a few thousand strings, so the heap (and every garbage collection) stays small.
   */
  texts: string[];
  textJson: string[];
  /** Per user, an index into texts (-1: none). */
  segment: Int32Array;
  /** Three per user (why_1, why_2, why_3), indexes into texts (-1: none). */
  why: Int32Array;
}

/** The user's reasons in words (the lists' why_1..3). */
export function reasonsOf(u: UserRows, i: number): string[] {
  const out: string[] = [];
  for (let k = 3 * i; k < 3 * i + 3; k++) if (u.why[k] >= 0) out.push(u.texts[u.why[k]]);
  return out;
}

/** The same as JSON, from the prebuilt JSON of each phrase. */
export function reasonsJson(u: UserRows, i: number): string {
  const parts: string[] = [];
  for (let k = 3 * i; k < 3 * i + 3; k++) if (u.why[k] >= 0) parts.push(u.textJson[u.why[k]]);
  return `[${parts.join(',')}]`;
}

/** A table of distinct strings: code(s) is its index (-1 for null). */
function textTable() {
  const codes = new Map<string, number>();
  const texts: string[] = [];
  const code = (v: unknown): number => {
    if (v == null) return -1;
    const s = String(v);
    let c = codes.get(s);
    if (c === undefined) codes.set(s, (c = texts.push(s) - 1));
    return c;
  };
  return { texts, code };
}

export interface Campaign {
  name: string;
  description: string | null;
  action: string | null;
  members: Set<string>;
}

export interface ServingState {
  pipeline: string;
  version: string;
  runId: string;
  cutoff: string;
  engine: string;
  model: Scorer;
  churnModel: Scorer | null;
  users: UserRows;
  campaigns: Map<string, Campaign>;
  online: OnlineFeatures;
  loadedAt: string;
  /** The end of every GET …/score body (model version, cutoff, run), serialised once. */
  scoreTail: string;
}

/** The event types behind the model's per-type features, in the model's column order (from its vocabulary). */
export function eventTypesOf(featureNames: string[], events: string[]): string[] {
  const bySafe = new Map(events.map((e) => [columnSafe(e), e]));
  const out: string[] = [];
  for (const n of featureNames) {
    const m = /^n_(.+)_total$/.exec(n);
    const e = m && bySafe.get(m[1]);
    if (e && !out.includes(e)) out.push(e);
  }
  return out;
}

export class NotReady extends Error {
  override name = 'NotReady';
}

export async function loadServingState(loaded: LoadedPipeline): Promise<ServingState> {
  const pipeline = loaded.definition.name;
  // Through the store's registry when there is one: the champion's files are fetched into this home's copy.
  const registry = await openRegistry(pipeline);
  const version = registry.champion()?.version;
  if (!version)
    throw new NotReady(`pipeline "${pipeline}" has no champion yet: run funnelcast run --pipeline ${pipeline}`);
  const run = await runScoredWith(pipeline, version);
  if (!run) throw new NotReady(`no finished run has scored lists with the champion ${version} yet`);
  const dir = registry.versionDir(version);
  const serialized = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Parameters<typeof loadScorer>[0];
  const featureNames = serialized.featureNames ?? [];
  const vocab = JSON.parse(readFileSync(join(run.segmentsPath!, '..', 'features', 'sequences.vocab.json'), 'utf8'));
  const churnFile = join(dir, 'churn-model.json');
  const [model, churnModel] = await Promise.all([
    loadScorer(serialized),
    existsSync(churnFile) ? loadScorer(JSON.parse(readFileSync(churnFile, 'utf8'))) : Promise.resolve(null),
  ]);
  const { users, campaigns } = await readLists(loaded, run);
  const online = await OnlineFeatures.open({
    warehouse: paths.warehouse(pipeline),
    def: loaded.definition,
    cutoff: new Date(run.cutoff),
    eventTypes: eventTypesOf(featureNames, Object.keys(vocab as Record<string, number>)),
    featureNames,
  });
  return {
    pipeline,
    version,
    runId: run.runId,
    cutoff: run.cutoff,
    engine: serialized.engine,
    model,
    churnModel,
    users,
    campaigns,
    online,
    loadedAt: new Date().toISOString(),
    scoreTail: `,"modelVersion":${JSON.stringify(version)},"cutoff":${JSON.stringify(run.cutoff)},"runId":${JSON.stringify(run.runId)}}`,
  };
}

async function readLists(loaded: LoadedPipeline, run: RunJson) {
  const instance = await DuckDBInstance.create(':memory:', duckdbOptions());
  const conn = await instance.connect();
  try {
    const file = `read_parquet(${quoteLiteral(run.segmentsPath!)})`;
    // churn_risk and clv exist only when the pipeline defines them.
    const have = new Set(
      (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${file}`)).getRows().map((r) => String(r[0])),
    );
    const col = (c: string) => (have.has(c) ? c : `NULL AS ${c}`);
    const wanted = [
      'user_id',
      'propensity',
      'propensity_decile',
      'churn_risk',
      'clv',
      'rfm_segment',
      'why_1',
      'why_2',
      'why_3',
    ];
    const seg = await conn.runAndReadAll(`SELECT ${wanted.map(col).join(', ')} FROM ${file}`);
    const c = seg.getColumns();
    const n = seg.currentRowCount;
    const num = (col: unknown[]) => Float64Array.from(col, (v) => (v == null ? NaN : Number(v)));
    const { texts, code } = textTable();
    const why = new Int32Array(3 * n);
    for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) why[3 * i + k] = code(c[6 + k][i]);
    const users: UserRows = {
      index: new Map(c[0].map((id, i) => [String(id), i])),
      propensity: num(c[1]),
      decile: Int32Array.from(c[2], (v) => (v == null ? 0 : Number(v))),
      churn: num(c[3]),
      clv: num(c[4]),
      segment: Int32Array.from(c[5], code),
      why,
      texts,
      textJson: texts.map((t) => JSON.stringify(t)),
    };
    const campaigns = new Map<string, Campaign>();
    for (const e of run.exports ?? []) {
      if (!existsSync(e.parquetPath)) continue;
      const r = await conn.runAndReadAll(`SELECT user_id FROM read_parquet(${quoteLiteral(e.parquetPath)})`);
      const spec = loaded.definition.campaigns.find((x) => x.name === e.campaign);
      campaigns.set(e.campaign, {
        name: e.campaign,
        description: spec?.description ?? null,
        action: spec?.action ?? null,
        members: new Set(r.getColumns()[0].map(String)),
      });
    }
    return { users, campaigns };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

export function disposeState(s: ServingState): void {
  s.model.dispose();
  s.churnModel?.dispose();
  s.online.close();
}
