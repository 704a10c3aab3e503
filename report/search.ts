/** The report's `model.search` table: every trial's settings and cross-validated metric, the kept one marked. */
import { escapeHtml, table } from './charts';
import type { ParamSearch } from '../workflows/types';

export function searchTable(s: ParamSearch | null | undefined): string {
  if (!s) return '';
  const names = Object.keys(s.trials[0]?.params ?? {});
  const skipped = s.skipped ? ` (${s.skipped} more not tried within the ${s.budgetSeconds / 60}-minute budget)` : '';
  return `<p>Settings of the ${escapeHtml(s.engine)} model searched on this run's folds (model.search, seed ${s.seed}): ${s.trials.length} trials${skipped}; trial 0 is the definition's own settings, the best cross-validated ${escapeHtml(s.metric)} trained the model.</p>${table(
    ['trial', ...names, `CV ${s.metric} mean`, 'std', 'seconds', ''],
    s.trials.map((t, i) => [
      i,
      ...names.map((k) => String(t.params[k])),
      t.mean,
      t.std,
      t.seconds,
      i === s.chosen ? 'kept' : '',
    ]),
  )}`;
}
