/** `funnelcast models list|show|history|promote|rollback|verify`: the model registry from the command line. */
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { ModelRegistry, type VersionInfo } from '../registry';
import { EXIT, num, table, UsageError, print } from './format';

export const MODELS_HELP = `Usage: funnelcast models <list|show <version>|history|promote <version>|rollback|verify <version>> [--pipeline <p>] [--json]

  list       every version, newest last: kind (live, or backtest: a backfill or an older cutoff, never serving),
             cutoff, engine, primary metric, the gate's decision; * marks the champion
  show       metrics, lineage and the comparison with the champion
  history    every move of the champion pointer: when, which version, why, by which run or person
  promote    make a live version champion (the pointer moves atomically; recorded with your user name)
  rollback   make the previous champion champion again
  verify     recompute a version's checksums against its manifest

Examples:
  funnelcast models list --pipeline sample
  funnelcast models show v0002 --pipeline sample
  funnelcast models history --pipeline sample --json
  funnelcast models rollback --pipeline sample
`;

export async function modelsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [action, version] = positionals;
  if (values.help || !action) {
    print(MODELS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const name = loadPipeline(values.pipeline!).definition.name;
  const reg = new ModelRegistry(paths.registry(name));
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
        if (!version) throw new UsageError('which version? funnelcast models show <version>');
        const dir = reg.versionDir(version);
        const info = JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8')) as VersionInfo;
        const champInfo = champ ? reg.info(champ.version) : null;
        const decision = reg.decision(info.version);
        const m = metricsOf(info);
        const c = champInfo ? metricsOf(champInfo) : {};
        const keys = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'f1', 'top_decile_lift'];
        out(
          [
            `${info.version}${info.version === champ?.version ? '  (champion)' : ''}: ${info.engine}, created ${info.createdAt}`,
            `  folder   ${dir}`,
            ...(decision ? [`  ${decision.kind.padEnd(8)} ${decision.reason}`] : []),
            '',
            table(
              ['metric', 'this version', `champion ${champ?.version ?? '—'}`],
              keys.map((k) => [k, num(m[k]), num(c[k])]),
            ),
            '',
            'lineage:',
            ...Object.entries(info.lineage).map(
              ([k, v]) => `  ${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : v}`,
            ),
          ].join('\n'),
          { ...info, folder: dir, decision, champion: champ, championMetrics: champInfo ? c : null },
        );
        return EXIT.ok;
      }
      case 'promote': {
        if (!version) throw new UsageError('which version? funnelcast models promote <version>');
        const p = await reg.promote(version, { by });
        out(`${p.version} is now champion.`, p);
        return EXIT.ok;
      }
      case 'rollback': {
        const p = await reg.rollback(by);
        out(`Rolled back: ${p.version} is champion again.`, p);
        return EXIT.ok;
      }
      case 'verify': {
        if (!version) throw new UsageError('which version? funnelcast models verify <version>');
        const bad = reg.verify(version);
        out(
          bad.length
            ? `${version}: checksum mismatch in ${bad.join(', ')}`
            : `${version}: every file matches its manifest checksum.`,
          { version, ok: bad.length === 0, mismatched: bad },
        );
        return bad.length ? EXIT.failed : EXIT.ok;
      }
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
