/**
 * The CLI as a script sees it: the real `funnelcast` binary spawned with its stdout and stderr on pipes. Every
 * `--help` exits 0 with examples, typos get a suggestion, a missing --data file is "not found", and a large
 * `--json` object arrives whole through a pipe (the process no longer exits before the pipe drains).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../infra/root';
import { ModelRegistry } from '../../../registry';
import { closest } from '../../../cli/format';
import { tempDir } from '../../helpers/warehouse';

const BIN = join(projectRoot(), 'bin', 'funnelcast.js');

/**
 * Runs the CLI and reads its stdout and stderr as streams. Node's own `stdio: 'pipe'` is a socket pair with a
 * larger buffer than a pipe, so stdout goes through a real pipe (`funnelcast … | cat`, as `funnelcast … | jq`
 * would), with bash's pipefail keeping the CLI's exit code.
 */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', 'set -o pipefail; "$@" | cat', 'cli', process.execPath, BIN, ...args], {
      env: { ...process.env, FUNNELCAST_HOME: tempDir('fc-cli-home-'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() }),
    );
  });
}

const COMMANDS = [
  'run',
  'up',
  'worker',
  'warehouse',
  'extract',
  'features',
  'generate',
  'evaluate',
  'models',
  'schedule',
  'backfill',
  'status',
  'runs',
  'cancel',
  'rerun',
  'deliveries',
];

describe('CLI hygiene (spawned binary, real pipes)', { timeout: 120_000 }, () => {
  it('every command --help exits 0 and shows examples', async () => {
    for (const args of [['--help'], ...COMMANDS.map((c) => [c, '--help']), ['runs', 'list', '--help']]) {
      const r = await cli(args);
      assert.equal(r.code, 0, `funnelcast ${args.join(' ')} exits 0 (got ${r.code}: ${r.err})`);
      if (args.length > 1) assert.match(r.out, /Examples?:/, `funnelcast ${args.join(' ')} shows examples`);
    }
  });

  it('suggests the command or flag meant by a typo, with exit 2', async () => {
    const rn = await cli(['rn']);
    assert.equal(rn.code, 2);
    assert.match(rn.err, /Did you mean "run"\?/);
    const flag = await cli(['run', '--pipline', 'sample']);
    assert.equal(flag.code, 2);
    assert.match(flag.err, /unknown option --pipline\. Did you mean --pipeline\?/);
    const step = await cli(['rerun', 'sample-20240430T000000Z-0123456789', '--from', 'trian']);
    assert.equal(step.code, 2);
    assert.match(step.err, /--from must be one of features, cross-validate, train, publish, score, segments, report/);
    const far = await cli(['xyzzy']);
    assert.doesNotMatch(far.err, /Did you mean/);
    assert.equal(closest('stauts', COMMANDS), 'status');
    assert.equal(closest('bakfill', COMMANDS), 'backfill');
  });

  it('evaluate --data of a missing file exits 4 (not found)', async () => {
    const r = await cli(['evaluate', '--data', '/nope.csv', '--label', 'y']);
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /no such file: \/nope\.csv/);
  });

  it('a --json object larger than a pipe buffer arrives whole through a pipe', async () => {
    const registry = tempDir('fc-big-registry-');
    const reg = new ModelRegistry(join(registry, 'sample'));
    const src = tempDir();
    const featureNames = Array.from({ length: 400 }, (_, i) => `feature_with_a_long_name_${i}`);
    for (let i = 0; i < 12; i++) {
      const f = join(src, `m${i}.json`);
      writeFileSync(f, JSON.stringify({ i }));
      await reg.publish({
        runId: `sample-r${i}`,
        files: [{ name: 'model.json', from: f }],
        info: {
          engine: 'forest',
          primaryMetric: 'roc_auc',
          metrics: { holdout: { roc_auc: 0.8 } },
          lineage: { cutoff: '2024-03-01' },
          params: {},
          featureNames,
        },
        primaryValue: 0.8,
        cutoff: '2024-03-01T00:00:00.000Z',
        champion: i ? { kind: 'same-rows', version: reg.champion()!.version, value: 0.8 } : { kind: 'none' },
        tolerance: 0,
      });
    }
    const r = await cli(['models', 'list', '--pipeline', 'sample', '--json'], { FUNNELCAST_REGISTRY: registry });
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.length > 2 * 65_536, `the object is larger than a pipe buffer (${r.out.length} bytes)`);
    const parsed = JSON.parse(r.out) as { versions: unknown[] };
    assert.equal(parsed.versions.length, 12);
  });
});
