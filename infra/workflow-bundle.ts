/**
 * The workflows' code bundle. Worker.create({ workflowsPath }) bundles the workflows with webpack on the calling
 * thread: about 2 CPU-seconds, with synchronous stretches that blocked the `funnelcast run` process's event loop
 * for 1.3 s (issue 17: the worker must never be starved). So the bundle is built once, by `npm run build`
 * (scripts/bundle-workflows.ts), next to the compiled workflows; a worker loads it when it was built from the
 * compiled files it would bundle now, and otherwise bundles them on a worker thread, never on the main one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { runInThread } from './threads';

/** The compiled workflows' entry point (dist/workflows/index.js). */
export const WORKFLOWS_ENTRY = join(__dirname, '..', 'workflows', 'index.js');
/** The prebuilt bundle, and the key of the sources it was built from beside it. */
export const BUNDLE_FILE = join(__dirname, '..', 'workflow-bundle.js');
const KEY_FILE = `${BUNDLE_FILE}.key`;

const REQUIRE = /require\("([^"]+)"\)/g;

/** The package a bare specifier names ("@temporalio/workflow/lib/x" → "@temporalio/workflow"). */
const packageOf = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * What the bundle is made of: every compiled file reachable from `entry` by relative require (type-only imports
 * are erased by tsc, so these are exactly the files webpack reads), and the version of each package they require.
 */
export function bundleKey(entry = WORKFLOWS_ENTRY): string {
  const hash = createHash('sha256');
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    hash.update(`${file}\0${text}\0`);
    for (const [, spec] of text.matchAll(REQUIRE)) {
      if (!spec.startsWith('.')) {
        if (!spec.startsWith('node:')) packages.add(packageOf(spec));
        continue;
      }
      const base = resolve(dirname(file), spec);
      const found = [`${base}.js`, join(base, 'index.js'), base].find((f) => existsSync(f) && f.endsWith('.js'));
      if (found) visit(found);
    }
  };
  visit(entry);
  for (const p of [...packages].sort()) {
    const version = (JSON.parse(readFileSync(require.resolve(`${p}/package.json`), 'utf8')) as { version: string })
      .version;
    hash.update(`${p}@${version}\0`);
  }
  return hash.digest('hex');
}

/** Bundles the workflows (webpack, via the Temporal SDK): call it off the main thread. */
export async function bundleWorkflows(entry = WORKFLOWS_ENTRY): Promise<string> {
  const { bundleWorkflowCode, DefaultLogger } = await import('@temporalio/worker');
  // Warnings only: webpack's module listing would fill every build's and worker's output.
  return (await bundleWorkflowCode({ workflowsPath: entry, logger: new DefaultLogger('WARN') })).code;
}

/** Writes the prebuilt bundle and its key (the build step). */
export async function writeWorkflowBundle(entry = WORKFLOWS_ENTRY, file = BUNDLE_FILE): Promise<void> {
  const key = bundleKey(entry);
  const code = await bundleWorkflows(entry);
  writeFileSync(`${file}.tmp`, code);
  renameSync(`${file}.tmp`, file);
  writeFileSync(`${file}.key`, key);
}

/**
 * Worker.create's workflow option: the prebuilt bundle when it matches the compiled workflows, else a bundle made
 * now on a worker thread (a build that skipped the bundling step, or workflows compiled since).
 */
export async function workflowBundleOption(
  entry = WORKFLOWS_ENTRY,
  file = BUNDLE_FILE,
): Promise<{ workflowBundle: { codePath: string } | { code: string } }> {
  const keyFile = file === BUNDLE_FILE ? KEY_FILE : `${file}.key`;
  if (existsSync(file) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === bundleKey(entry))
    return { workflowBundle: { codePath: file } };
  const code = await runInThread<string, { entry: string }>({
    file: join(__dirname, 'workflow-bundle-thread.js'),
    input: { entry },
  });
  return { workflowBundle: { code } };
}
