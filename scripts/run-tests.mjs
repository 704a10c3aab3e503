#!/usr/bin/env node
// Runs the compiled test files with Node's own test runner. Node 20's `--test` cannot glob, so we list the
// files here. Usage: node scripts/run-tests.mjs [unit|integration|faults|all] [--only <substring>]
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// FUNNELCAST_DIST lets several people build into their own output folder (dist-<name>) at once.
const root = join(import.meta.dirname, '..', process.env.FUNNELCAST_DIST ?? 'dist', 'test');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const suites = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--only');
const wanted = suites.length === 0 || suites.includes('all') ? ['unit', 'integration', 'faults'] : suites;

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

const files = wanted
  .flatMap((s) => walk(join(root, s)))
  .filter((f) => !only || f.includes(only))
  .sort();
if (files.length === 0) {
  console.error(`No compiled test files found for ${wanted.join(', ')} under ${root}. Did the build run?`);
  process.exit(1);
}
// Integration suites share one Temporal dev server per file and are heavy: run files one at a time.
const concurrency = wanted.some((s) => s !== 'unit') ? '1' : '2';
const res = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(res.status ?? 1);
