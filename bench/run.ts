/**
 * `npm run bench -- <suite> [more suites]`: runs each suite (ours and the reference side by side, in one run)
 * and writes bench/results/<suite>.json and .md. Each suite is a module in bench/suites/ exporting `run()`.
 */
import os from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeResults, type BenchRow } from './harness';

export interface Suite {
  /** `name`: the results' file name when a mode of the suite is not the suite's headline (default: the suite). */
  run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[]; name?: string }>;
}

async function main() {
  const [suite, ...args] = process.argv.slice(2);
  if (!suite) {
    console.error('usage: npm run bench -- <suite> [args]   (suites: files in bench/suites/)');
    process.exit(2);
  }
  const modPath = join(__dirname, 'suites', `${suite}.js`);
  if (!existsSync(modPath)) {
    console.error(`unknown bench suite "${suite}" (looked for ${modPath})`);
    process.exit(2);
  }
  const mod = (await import(modPath)) as Suite;
  const startedAt = new Date().toISOString();
  const { rows, notes, name } = await mod.run(args);
  const out = writeResults({
    suite: name ?? suite,
    startedAt,
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
    rows,
    notes,
  });
  console.log(`wrote ${out.json} and ${out.md}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
