/**
 * The command line under hostile input (issue 18): impossible dates and bare numbers as cutoffs, unknown pipelines,
 * `--json` failures, a definition with a byte-order mark, a folder as definition, an unwritable `generate --out`,
 * and durations too long to represent. Runs the compiled CLI as a process (exit codes and stdout as scripts see
 * them); none of these cases gets as far as starting a Temporal server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDateOption } from '../../../cli/dates';
import { expandCutoffs } from '../../../cli/backfill';
import { loadPipeline } from '../../../pipelines/load';
import { projectRoot } from '../../../infra/root';
import { tempDir } from '../../helpers/warehouse';

const fixtures = join(projectRoot(), 'test', 'fixtures', 'bad', 'definitions');
const home = tempDir('fc-hostile-cli-');

function cli(...args: string[]): { code: number | null; out: string; err: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', '..', 'client.js'), ...args], {
    env: { ...process.env, FUNNELCAST_HOME: home, FUNNELCAST_TEMPORAL_PORT: '1', NODE_TEST_CONTEXT: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - t0 };
}

describe('hostile command-line input', () => {
  it('refuses impossible dates and bare numbers as dates (exit 2, usage) and accepts real ones', () => {
    assert.throws(() => parseDateOption('cutoff', '2024-02-30'), /--cutoff "2024-02-30" is not a real calendar date/);
    assert.throws(() => parseDateOption('cutoff', '2023-02-29'), /not a real calendar date/);
    assert.throws(() => parseDateOption('cutoff', '1'), /--cutoff "1" is not an ISO date/);
    assert.throws(() => parseDateOption('cutoff', '20240301'), /not an ISO date/);
    assert.throws(() => parseDateOption('cutoff', '2024-03-01T24:00:00Z'), /not a real time of day/);
    assert.equal(parseDateOption('cutoff', '2024-02-29'), '2024-02-29T00:00:00.000Z');
    assert.equal(parseDateOption('cutoff', '2024-03-01T10:00:00+02:00'), '2024-03-01T08:00:00.000Z');
    assert.equal(parseDateOption('cutoff', '2024-03-01 10:00'), '2024-03-01T10:00:00.000Z');
    assert.throws(
      () => expandCutoffs('2024-02-30', '2024-03-10', '1w'),
      /--from "2024-02-30" is not a real calendar date/,
    );
    assert.throws(() => expandCutoffs('2024-01-01', '1', '1w'), /--to "1" is not an ISO date/);
    for (const [bad, cmd, extra] of [
      ['2024-02-30', 'run', []],
      ['1', 'features', ['--out', join(home, 'f.parquet')]],
    ] as const) {
      const r = cli(cmd, '--pipeline', 'sample', '--cutoff', bad, ...extra);
      assert.equal(r.code, 2, `${cmd} --cutoff ${bad}: ${r.err}`);
      assert.match(r.err, new RegExp(`--cutoff "${bad}" is not`));
    }
    const g = cli('generate', '--users', '10', '--out', join(home, 'g'), '--start', '2024-02-30');
    assert.equal(g.code, 2, g.err);
  });

  it('an unknown pipeline or a missing definition file exits 4 (not found)', () => {
    const byName = cli('run', '--pipeline', 'no_such_pipeline');
    assert.equal(byName.code, 4, byName.err);
    assert.match(byName.err, /no bundled pipeline named "no_such_pipeline"/);
    const byPath = cli('extract', '--pipeline', join(home, 'missing.json'));
    assert.equal(byPath.code, 4, byPath.err);
    assert.match(byPath.err, /missing\.json:\n\s+- file not found/);
  });

  it('with --json, every failure prints exactly one JSON object {error, code} on stdout', () => {
    const cases: [string[], number, RegExp][] = [
      [['run', '--pipeline', 'no_such_pipeline', '--json'], 4, /no bundled pipeline/],
      [['run', '--cutoff', '1', '--json'], 2, /--cutoff "1" is not an ISO date/],
      [['run', '--no-such-option', '--json'], 2, /no-such-option/],
      [['run', '--pipeline', join(fixtures, 'huge_horizon.json'), '--json'], 3, /label\.horizon: at most 100 years/],
      [['generate', '--users', '0', '--out', home, '--json'], 2, /--users must be/],
      [['no-such-command', '--json'], 2, /Unknown command "no-such-command"\.$/],
    ];
    for (const [args, code, message] of cases) {
      const r = cli(...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
      const lines = r.out.trim().split('\n');
      assert.equal(lines.length, 1, `one line on stdout for ${args.join(' ')}: ${r.out}`);
      const parsed = JSON.parse(lines[0]) as { error: string; code: number };
      assert.deepEqual(Object.keys(parsed).sort(), ['code', 'error']);
      assert.equal(parsed.code, code);
      assert.match(parsed.error, message);
    }
  });

  it('loads a definition saved with a UTF-8 byte-order mark', () => {
    const loaded = loadPipeline(join(fixtures, 'bom.json'));
    assert.equal(loaded.definition.name, 'bom');
    // Through the CLI it gets past loading: the cutoff is what it refuses here.
    const r = cli('run', '--pipeline', join(fixtures, 'bom.json'), '--cutoff', '2024-02-30');
    assert.equal(r.code, 2, r.err);
  });

  it('a folder given as the definition is a clear error (exit 3), by path or by a bare name', () => {
    const r = cli('run', '--pipeline', fixtures);
    assert.equal(r.code, 3, r.err);
    assert.match(r.err, /definitions:\n\s+- is a folder: give the pipeline definition \.json file inside it/);
    assert.throws(() => loadPipeline(fixtures), /is a folder/);
  });

  it('generate --out to a place that cannot be written fails at once (exit 2)', () => {
    const file = join(home, 'a-file');
    writeFileSync(file, 'not a folder');
    const r = cli('generate', '--users', '2000000', '--out', join(file, 'sub'));
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--out .*a-file\/sub is not a writable folder/);
    assert.ok(r.ms < 10_000, `failed after ${r.ms} ms, before generating anything`);
  });

  it('refuses horizons and windows too long to represent in the schema (exit 3)', () => {
    assert.throws(() => loadPipeline(join(fixtures, 'huge_horizon.json')), /label\.horizon: at most 100 years/);
    assert.throws(() => loadPipeline(join(fixtures, 'huge_window.json')), /features\.windows\.1: at most 100 years/);
    const r = cli('run', '--pipeline', join(fixtures, 'huge_window.json'));
    assert.equal(r.code, 3, r.err);
  });
});
