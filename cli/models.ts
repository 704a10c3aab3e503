/** `funnelcast models list|show|promote|rollback|verify`: the model registry from the command line. */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { ModelRegistry, type VersionInfo } from '../registry';
import { EXIT, num, table, UsageError, print } from './format';

export const MODELS_HELP = `Usage: funnelcast models <list|show <version>|promote <version>|rollback|verify <version>> [--pipeline <p>] [--json]

  list       every version, newest last, with its holdout metrics; * marks the champion
  show       metrics, lineage and the comparison with the champion
  promote    make a version champion (the pointer moves atomically)
  rollback   make the previous champion champion again
  verify     recompute a version's checksums against its manifest

Examples:
  funnelcast models list --pipeline sample
  funnelcast models show v0002 --pipeline sample
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
  const champ = reg.champion();
  const metricsOf = (i: VersionInfo) =>
    ((i.metrics as { holdout?: Record<string, number> }).holdout ?? {}) as Record<string, number>;
  try {
    switch (action) {
      case 'list': {
        const infos = reg.versions().map((v) => reg.info(v));
        out(
          infos.length === 0
            ? `No model versions for ${name} yet (${reg.root}). Run: funnelcast run --pipeline ${name}`
            : table(
                ['', 'version', 'engine', 'ROC AUC', 'PR AUC', 'log loss', 'cutoff', 'created'],
                infos.map((i) => [
                  i.version === champ?.version ? '*' : '',
                  i.version,
                  i.engine,
                  num(metricsOf(i).roc_auc),
                  num(metricsOf(i).pr_auc),
                  num(metricsOf(i).log_loss),
                  String(i.lineage.cutoff ?? ''),
                  i.createdAt,
                ]),
              ),
          { champion: champ, versions: infos },
        );
        return EXIT.ok;
      }
      case 'show': {
        if (!version) throw new UsageError('which version? funnelcast models show <version>');
        const dir = reg.versionDir(version);
        const info = JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8')) as VersionInfo;
        const champInfo = champ ? reg.info(champ.version) : null;
        const m = metricsOf(info);
        const c = champInfo ? metricsOf(champInfo) : {};
        const keys = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'f1', 'top_decile_lift'];
        out(
          [
            `${info.version}${info.version === champ?.version ? '  (champion)' : ''}: ${info.engine}, created ${info.createdAt}`,
            `  folder   ${dir}`,
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
          { ...info, folder: dir, champion: champ, championMetrics: champInfo ? c : null },
        );
        return EXIT.ok;
      }
      case 'promote': {
        if (!version) throw new UsageError('which version? funnelcast models promote <version>');
        const p = await reg.promote(version);
        out(`${p.version} is now champion.`, p);
        return EXIT.ok;
      }
      case 'rollback': {
        const p = await reg.rollback();
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
    if ((e as Error).name === 'NotFound') {
      process.stderr.write(`${(e as Error).message}\n`);
      return EXIT.notFound;
    }
    throw e;
  }
}
