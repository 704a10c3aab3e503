/** `funnelcast models list|show|history|promote|rollback|verify`: the model registry from the command line. */
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../pipelines/load';
import { type ModelRegistry, type VersionInfo } from '../registry';
import { openRegistry } from '../registry/open';
import { EXIT, int, num, table, UsageError, print } from './format';
import { compareVersions, formatComparison } from './models-compare';
import { worseBy } from '../registry/compare';

export const MODELS_HELP = `Usage: funnelcast models <action> [--pipeline <p>] [--json]

  list                  every version, newest last: kind (live, or backtest: a backfill or an older cutoff, never
                        serving), cutoff, engine, primary metric, the gate's decision; * marks the champion
  show <v> [<v> …]      metrics, lineage, the rows each version was measured on, and the champion on the same rows
  compare <a> <b>       both versions on the same held-out rows (the users both held out, at the same training
                        cutoff), side by side with the difference; when their rows differ it says so and why
  history               every move of the champion pointer: when, which version, why, by which run or person
  promote <v> [--reason <text>]
                        make a live version champion (atomic; recorded with your user name and the reason). A
                        version worse than the champion on the same rows is refused unless --reason says why
  rollback [--to <v>] [--reason <text>]
                        make the champion the current one replaced (again: the one before that, …), or --to <v>
  verify <v>            recompute a version's checksums against its manifest

Examples:
  funnelcast models list --pipeline sample
  funnelcast models show v0002 v0003 --pipeline sample
  funnelcast models compare v0001 v0003 --pipeline sample
  funnelcast models promote v0002 --pipeline sample --reason "v0003 over-targets new users"
  funnelcast models rollback --to v0001 --pipeline sample --reason "bad data in the last load"
  funnelcast models history --pipeline sample --json
`;

export async function modelsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      reason: { type: 'string' },
      to: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [action, version, ...more] = positionals;
  if (values.help || !action) {
    print(MODELS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const def = loadPipeline(values.pipeline!).definition;
  const name = def.name;
  const reg = await openRegistry(name);
  const out = (human: string, json: unknown) =>
    print(values.json ? JSON.stringify(json, null, 2) + '\n' : human + '\n');
  const champ = action === 'list' || action === 'show' ? reg.champion() : null;
  const by = process.env.USER ?? userInfo().username;
  try {
    switch (action) {
      case 'list':
        out(...listVersions(reg, name, champ?.version));
        return EXIT.ok;
      case 'history':
        out(...championHistory(reg, name));
        return EXIT.ok;
      case 'show': {
        if (!version) throw new UsageError('which version? funnelcast models show <version> [<version> …]');
        const shown = [version, ...more].map((v) => showVersion(reg, v, champ?.version));
        out(shown.map((x) => x[0]).join('\n\n'), more.length ? shown.map((x) => x[1]) : shown[0][1]);
        if (more.length) process.stderr.write(`(compare two on the same rows: funnelcast models compare <a> <b>)\n`);
        return EXIT.ok;
      }
      case 'compare': {
        if (!version || more.length !== 1)
          throw new UsageError('compare two versions: funnelcast models compare <a> <b>');
        const c = await compareVersions(reg, version, more[0]);
        out(formatComparison(c, [reg.info(version), reg.info(more[0])]), c);
        return EXIT.ok;
      }
      case 'promote':
        if (!version) throw new UsageError('which version? funnelcast models promote <version>');
        return await promoteVersion(reg, version, {
          tolerance: def.registry.tolerance,
          reason: values.reason,
          by,
          out,
        });
      case 'rollback': {
        const p = await reg.rollback(by, { to: values.to, reason: values.reason });
        out(`Rolled back: ${p.version} is champion (${p.reason}).`, p);
        return EXIT.ok;
      }
      case 'verify':
        if (!version) throw new UsageError('which version? funnelcast models verify <version>');
        return verifyVersion(reg, version, out);
      default:
        throw new UsageError(`unknown action "${action}"\n\n${MODELS_HELP}`);
    }
  } catch (e) {
    if ((e as Error).name === 'NotFound' || (e as Error).name === 'InputError') {
      process.stderr.write(`${(e as Error).message}\n`);
      return (e as Error).name === 'NotFound' ? EXIT.notFound : EXIT.badInput;
    }
    throw e;
  }
}

type Out = (human: string, json: unknown) => void;
type Registry = Awaited<ReturnType<typeof openRegistry>>;

/**
 * Promotes a version by hand. One that is worse than the champion, or has sanity warnings, is promoted only with a
 * reason, which the champion history records beside the warning.
 */
async function promoteVersion(
  reg: Registry,
  version: string,
  o: { tolerance: number; reason: string | undefined; by: string; out: Out },
): Promise<number> {
  const sanity = ((reg.info(version).metrics.sanity ?? []) as { message: string }[]).map((w) => w.message);
  const warning = [await worseThanChampion(reg, version, o.tolerance), ...sanity].filter(Boolean).join('; ') || null;
  if (warning && !o.reason) {
    process.stderr.write(`${warning}\nNot promoted. To promote it anyway, say why: --reason "<why>"\n`);
    return EXIT.usage;
  }
  if (warning) process.stderr.write(`warning: ${warning}; promoting it as asked (${o.reason})\n`);
  const reason = o.reason ? `promoted by hand: ${o.reason}${warning ? ` (although ${warning})` : ''}` : undefined;
  const p = await reg.promote(version, { by: o.by, reason });
  o.out(`${p.version} is now champion.${warning ? ` Warning: ${warning}.` : ''}`, { ...p, warning });
  return EXIT.ok;
}

/** Checks every file of a version against its manifest's checksums. */
function verifyVersion(reg: Registry, version: string, out: Out): number {
  const bad = reg.verify(version);
  out(
    bad.length
      ? `${version}: checksum mismatch in ${bad.join(', ')}`
      : `${version}: every file matches its manifest checksum.`,
    { version, ok: bad.length === 0, mismatched: bad },
  );
  return bad.length ? EXIT.failed : EXIT.ok;
}

const metricsOf = (i: VersionInfo) =>
  ((i.metrics as { holdout?: Record<string, number> }).holdout ?? {}) as Record<string, number>;

/** Every version with its kind (live/backtest), cutoff, engine, primary metric and the gate's decision. */
function listVersions(reg: ModelRegistry, name: string, champion: string | undefined): [string, unknown] {
  const infos = reg.versions().map((v) => ({ ...reg.info(v), decision: reg.decision(v) }));
  const human =
    infos.length === 0
      ? `No model versions for ${name} yet (${reg.root}). Run: funnelcast run --pipeline ${name}`
      : table(
          ['', 'version', 'kind', 'cutoff', 'engine', 'metric', 'value', 'ROC AUC', 'PR AUC', 'log loss', 'decision'],
          infos.map((i) => [
            i.version === champion ? '*' : '',
            i.version,
            i.decision?.kind ?? '—',
            String(i.lineage.cutoff ?? ''),
            i.engine,
            i.primaryMetric,
            num(metricsOf(i)[i.primaryMetric]),
            num(metricsOf(i).roc_auc),
            num(metricsOf(i).pr_auc),
            num(metricsOf(i).log_loss),
            i.decision?.decision ?? '—',
          ]),
        );
  const versions = infos.map(({ decision, ...i }) => ({
    ...i,
    kind: decision?.kind ?? null,
    cutoff: i.lineage.cutoff ?? null,
    decision,
  }));
  return [human, { champion: champion ? reg.champion() : null, versions }];
}

/** The append-only history of the champion pointer. */
function championHistory(reg: ModelRegistry, name: string): [string, unknown] {
  const h = reg.history();
  const human =
    h.length === 0
      ? `The champion of ${name} has never moved (${reg.root}).`
      : table(
          ['when', 'action', 'version', 'previous', 'cutoff', 'by', 'why'],
          h.map((e) => [e.at, e.action, e.version, e.previous ?? '—', e.cutoff ?? '—', e.by, e.reason]),
        );
  return [human, { pipeline: name, history: h }];
}

/** One version for `models show`: metrics on its own rows, which rows, and the champion's on the same rows. */
function showVersion(reg: ModelRegistry, version: string, champion: string | undefined): [string, unknown] {
  const dir = reg.versionDir(version);
  const info = JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8')) as VersionInfo;
  const decision = reg.decision(info.version);
  const m = metricsOf(info);
  // The champion's metric is shown only when it was measured on this version's rows (at its publish).
  const recorded = (
    info.metrics as { champion?: { version: string; sameRows: boolean; metrics: Record<string, number> } }
  ).champion;
  const c = recorded?.sameRows ? recorded.metrics : {};
  const keys = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'best_f1', 'best_f1_threshold', 'top_decile_lift'];
  const rows = `${int(Number(info.lineage.holdoutRows))} held-out users at training cutoff ${String(info.lineage.trainingCutoff ?? '?')}`;
  const human = [
    `${info.version}${info.version === champion ? '  (champion)' : ''}: ${info.engine}, created ${info.createdAt}`,
    `  folder   ${dir}`,
    `  rows     measured on ${rows}`,
    ...(decision ? [`  ${decision.kind.padEnd(8)} ${decision.reason}`] : []),
    '',
    table(
      ['metric', 'this version', recorded?.sameRows ? `${recorded.version} on the same rows` : 'champion at publish'],
      keys.map((k) => [k, num(m[k]), recorded?.sameRows ? num(c[k]) : '—']),
    ),
    ...(recorded && !recorded.sameRows ? [`  (${recorded.version} was not comparable on these rows)`] : []),
    '',
    'lineage:',
    ...Object.entries(info.lineage).map(
      ([k, v]) => `  ${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : v}`,
    ),
  ].join('\n');
  return [human, { ...info, folder: dir, decision, champion: champion ?? null, measuredOn: rows }];
}

/**
 * Why promoting `version` would put a worse model in charge: worse than the champion by more than the tolerance on
 * the same held-out rows. Null when it is not worse, or there is no champion or no same rows to judge on.
 */
async function worseThanChampion(reg: ModelRegistry, version: string, tolerance: number): Promise<string | null> {
  const champ = reg.champion();
  const name = reg.versionDir(version).replace(/^.*\//, '');
  if (!champ || champ.version === name) return null;
  const metric = reg.info(name).primaryMetric;
  const c = await compareVersions(reg, champ.version, name);
  const worse = worseBy(c, metric);
  if (worse === null || worse <= tolerance) return null;
  return (
    `${name} is worse than the champion ${champ.version} on the same ${c.common} held-out rows: ` +
    `${metric} ${num(c.metrics!.b[metric], 4)} vs ${num(c.metrics!.a[metric], 4)} (tolerance ${tolerance})`
  );
}
