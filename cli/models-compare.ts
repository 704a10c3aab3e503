/**
 * `funnelcast models compare A B` and `models show A B …`: versions side by side, honestly. Metrics are compared
 * only on the same rows (registry/compare.ts): the users both held out at one training cutoff, or, at other
 * cutoffs, the later version's held-out rows with the earlier version re-scored on them. When neither is possible
 * the command says why and shows on which rows each version was measured instead of printing a difference.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { paths } from '../infra/paths';
import { holdoutByUser } from '../ml/cv';
import { selectRows } from '../ml/classifier';
import { loadScorer } from '../ml/scorer';
import { readFeatureTable } from '../warehouse/matrix';
import { compareOnSameRows, type MeasuredRows, type VersionComparison } from '../registry/compare';
import type { ModelRegistry, VersionInfo } from '../registry';
import { withDuckDB } from '../warehouse/db';
import { int, num, table } from './format';

/** The held-out rows a version recorded when it was published (user, label, its score), at its training cutoff. */
export async function measuredRows(reg: ModelRegistry, version: string): Promise<MeasuredRows> {
  const dir = reg.versionDir(version);
  const info = reg.info(version);
  const trainingCutoff = (info.lineage.trainingCutoff as string | undefined) ?? null;
  const file = join(dir, 'holdout-predictions.parquet');
  const name = dir.replace(/^.*\//, '');
  if (!existsSync(file)) return { version: name, trainingCutoff, ids: [], labels: [], scores: [] };
  return withDuckDB(':memory:', async (conn) => {
    const r = await conn.runAndReadAll(`SELECT user_id, label, score FROM read_parquet($p) ORDER BY user_id`, {
      p: file,
    });
    const rows = r.getRows();
    return {
      version: name,
      trainingCutoff,
      ids: rows.map((x) => String(x[0])),
      labels: Float64Array.from(rows, (x) => Number(x[1])),
      scores: Float64Array.from(rows, (x) => Number(x[2])),
    };
  });
}

/**
 * Versions trained at other cutoffs: the one trained earlier is re-scored on the later one's held-out rows (its
 * training table at its training cutoff, the same labels), so both are measured on the same rows. Neither trained
 * on them when both held out users by the same hash (checked). Otherwise, or when the table is gone, the versions
 * are shown apart with the reason.
 */
export async function compareVersions(reg: ModelRegistry, a: string, b: string): Promise<VersionComparison> {
  const [ma, mb] = [await measuredRows(reg, a), await measuredRows(reg, b)];
  if (ma.trainingCutoff === mb.trainingCutoff || !ma.trainingCutoff || !mb.trainingCutoff)
    return compareOnSameRows(ma, mb);
  const aFirst = ma.trainingCutoff < mb.trainingCutoff;
  const [older, newer] = aFirst ? [a, mb] : [b, ma];
  const rescored = await rescoredOn(reg, older, newer);
  if (typeof rescored === 'string') return { ...compareOnSameRows(ma, mb), why: rescored };
  const c = aFirst ? compareOnSameRows(rescored, mb) : compareOnSameRows(ma, rescored);
  const note = `${rescored.version} re-scored on ${newer.version}'s held-out rows at ${newer.trainingCutoff}`;
  return { ...c, why: c.why ? `${note}; ${c.why}` : note };
}

/** `version`'s model scored on the rows `on` was measured on, or why it cannot be. */
async function rescoredOn(reg: ModelRegistry, version: string, on: MeasuredRows): Promise<MeasuredRows | string> {
  const apart = `trained at other cutoffs (${reg.info(version).lineage.trainingCutoff} vs ${on.trainingCutoff}): `;
  const info = reg.info(version);
  const params = (info.params ?? {}) as { holdout?: unknown; seed?: unknown };
  if (typeof params.holdout !== 'number' || typeof params.seed !== 'number' || on.ids.length === 0)
    return `${apart}${version}'s holdout is not recorded, so it may have trained on the other's held-out users`;
  if (holdoutByUser(on.ids, params.holdout, params.seed).train.length > 0)
    return `${apart}${version} held out other users and trained on some of the other's held-out users`;
  const onInfo = reg.info(on.version);
  const pipeline = basename(dirname(dirname(reg.versionDir(on.version))));
  const table = join(paths.runDir(pipeline, onInfo.runId), 'training-features', 'features.parquet');
  if (!existsSync(table)) return `${apart}${on.version}'s training table (${table}) is gone, so nothing was re-scored`;
  const serialized = JSON.parse(readFileSync(join(reg.versionDir(version), 'model.json'), 'utf8'));
  const model = await loadScorer(serialized);
  try {
    if (model.needsSequences) return `${apart}a ${model.engine} model is not re-scored here (it reads sequences)`;
    return await withDuckDB(':memory:', async (conn) => {
      const t = await readFeatureTable(conn, table, { label: 'label', idColumn: 'user_id' });
      const names: string[] = serialized.featureNames ?? [];
      if (names.join('\u0000') !== t.x.names.join('\u0000'))
        return `${apart}${version} was trained on other features than ${on.version}`;
      const at = new Map(t.ids.map((id, i) => [id, i]));
      const idx = on.ids.map((id) => at.get(id) ?? -1);
      if (idx.some((i) => i < 0)) return `${apart}${on.version}'s held-out users are not all in its training table`;
      const scores = model.predict({ x: selectRows(t.x, idx), ids: on.ids });
      return { version: basename(reg.versionDir(version)), trainingCutoff: on.trainingCutoff, ...pickRows(on, scores) };
    });
  } finally {
    model.dispose();
  }
}

const pickRows = (on: MeasuredRows, scores: Float64Array) => ({ ids: on.ids, labels: on.labels, scores });

const rowsOf = (r: VersionComparison['a']) =>
  `${int(r.rows)} held-out users (${int(r.positives)} positives) at training cutoff ${r.trainingCutoff ?? '?'}`;

export function formatComparison(c: VersionComparison, infos: [VersionInfo, VersionInfo]): string {
  const lines = [`${c.a.version}: measured on ${rowsOf(c.a)}`, `${c.b.version}: measured on ${rowsOf(c.b)}`, ''];
  if (!c.metrics) {
    lines.push(`Not compared on the same rows: ${c.why}. Each version's own metrics, on its own rows:`, '');
    const m = infos.map((i) => (i.metrics as { holdout?: Record<string, number> }).holdout ?? {});
    const keys = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'best_f1'];
    lines.push(
      table(
        ['metric', c.a.version, c.b.version],
        keys.map((k) => [k, num(m[0][k]), num(m[1][k])]),
      ),
    );
    return lines.join('\n');
  }
  lines.push(
    `Compared on the same ${int(c.common)} held-out rows (neither version trained on them)${c.why ? `: ${c.why}` : ''}:`,
    '',
    table(
      ['metric', c.a.version, c.b.version, 'difference (b − a)'],
      Object.keys(c.metrics.a).map((k) => [
        k,
        num(c.metrics!.a[k]),
        num(c.metrics!.b[k]),
        `${c.metrics!.diff[k] >= 0 ? '+' : ''}${num(c.metrics!.diff[k])}`,
      ]),
    ),
  );
  return lines.join('\n');
}
