/**
 * `funnelcast models compare A B` and `models show A B …`: versions side by side, honestly. Metrics are compared
 * only on the rows both versions were measured on (registry/compare.ts); when those differ the command says so and
 * shows on which rows each version was measured instead of printing a difference.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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

export async function compareVersions(reg: ModelRegistry, a: string, b: string): Promise<VersionComparison> {
  return compareOnSameRows(await measuredRows(reg, a), await measuredRows(reg, b));
}

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
