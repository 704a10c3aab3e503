/**
 * One publisher on its own "machine" (its own FUNNELCAST_HOME, the shared store from FUNNELCAST_STORE), run by
 * test/unit/registry/shared-publish.test.ts: publishes through openRegistry(…).publish, the call the publish
 * activity makes, and prints one JSON line: the outcome or the error, and the champion its own folder shows after.
 * argv: pipeline runId auc [championVersion championValue]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistry } from '../../registry/open';

async function main([pipeline, runId, auc, champVersion, champValue]: string[]) {
  const model = join(mkdtempSync(join(tmpdir(), 'fc-pub-')), 'model.json');
  writeFileSync(model, JSON.stringify({ runId }));
  const reg = await openRegistry(pipeline!);
  const value = Number(auc);
  let outcome: unknown;
  try {
    const r = await reg.publish({
      runId: runId!,
      files: [{ name: 'model.json', from: model }],
      info: {
        engine: 'forest',
        primaryMetric: 'roc_auc',
        metrics: { holdout: { roc_auc: value } },
        lineage: { cutoff: '2024-01-01T00:00:00.000Z' },
        params: {},
        featureNames: ['a'],
      },
      primaryValue: value,
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: champVersion
        ? { kind: 'same-rows', version: champVersion, value: Number(champValue) }
        : { kind: 'none' },
      tolerance: 0.01,
    });
    outcome = { version: r.version, decision: r.decision, champion: r.champion, versionDir: r.versionDir };
  } catch (e) {
    outcome = { error: (e as Error).name, message: (e as Error).message };
  }
  const seen = (await openRegistry(pipeline!)).champion()?.version ?? null;
  process.stdout.write(JSON.stringify({ outcome, seen, root: reg.root }) + '\n');
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(String((e as Error).stack) + '\n');
  process.exit(1);
});
