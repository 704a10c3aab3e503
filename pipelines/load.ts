import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ZodError } from 'zod';
import { projectRoot } from '../infra/root';
import { sourcesOutsideRoot } from '../infra/data-root';
import { pipelineDefinition, type PipelineDefinition } from './schema';

/** Where the bundled definitions live: the source tree's pipelines/ folder (JSON is not copied into dist/). */
export const BUNDLED_PIPELINES_DIR = join(projectRoot(), 'pipelines');

export class PipelineDefinitionError extends Error {
  constructor(
    readonly file: string,
    readonly issues: string[],
  ) {
    super(`Invalid pipeline definition ${file}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'PipelineDefinitionError';
  }
}

/** No definition at that name or path (exit code 4, not found, where a broken definition is 3). */
export class PipelineNotFoundError extends PipelineDefinitionError {
  constructor(file: string, issue: string) {
    super(file, [issue]);
    this.name = 'NotFoundError';
  }
}

export interface LoadedPipeline {
  definition: PipelineDefinition;
  /** Absolute path of the definition file. */
  file: string;
  /** Folder that relative source paths are resolved against. */
  baseDir: string;
  /** sha256 of the definition file's bytes: part of every model's lineage. */
  hash: string;
}

/** Resolves `sample` to the bundled `pipelines/sample.json`, or takes a path to any JSON definition. */
export function resolvePipelineFile(ref: string): string {
  if (ref.endsWith('.json') || ref.includes('/') || ref.includes('\\')) {
    const file = isAbsolute(ref) ? ref : resolve(process.cwd(), ref);
    if (!existsSync(file)) throw new PipelineNotFoundError(file, 'file not found');
    if (statSync(file).isDirectory())
      throw new PipelineDefinitionError(file, ['is a folder: give the pipeline definition .json file inside it']);
    return file;
  }
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(ref)) {
    throw new PipelineDefinitionError(ref, [
      'a pipeline name must be a-z, 0-9, "_" or "-" (or give a path to a .json file)',
    ]);
  }
  if (existsSync(ref) && statSync(ref).isDirectory())
    throw new PipelineDefinitionError(resolve(ref), ['is a folder: give the pipeline definition .json file inside it']);
  const file = join(BUNDLED_PIPELINES_DIR, `${ref}.json`);
  if (!existsSync(file)) {
    throw new PipelineNotFoundError(file, `no bundled pipeline named "${ref}" (see pipelines/*.json, or pass a path)`);
  }
  return file;
}

export function parsePipeline(raw: unknown, file = '<inline>'): PipelineDefinition {
  try {
    return pipelineDefinition.parse(raw);
  } catch (e) {
    if (e instanceof ZodError) {
      throw new PipelineDefinitionError(
        file,
        e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
      );
    }
    throw e;
  }
}

const isString = (x: string | undefined): x is string => typeof x === 'string';

/**
 * Loads and validates a definition. `baseDir` is the folder its relative source paths are read from when that is
 * not the file's own folder: a definition handed to a worker by content (`definitions/<sha256>.json`, cli/edge.ts)
 * keeps the folder it was written in.
 */
export function loadPipeline(ref: string, opts: { baseDir?: string } = {}): LoadedPipeline {
  const file = resolvePipelineFile(ref);
  const baseDir = opts.baseDir ?? dirname(file);
  const bytes = readFileSync(file);
  let raw: unknown;
  try {
    // Editors on Windows save UTF-8 with a byte-order mark, which JSON.parse rejects.
    raw = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new PipelineDefinitionError(file, [`not valid JSON: ${(e as Error).message}`]);
  }
  const definition = parsePipeline(raw, file);
  const outside = sourcesOutsideRoot(sourcePaths(definition), baseDir);
  if (outside.length) throw new PipelineDefinitionError(file, outside);
  return {
    definition,
    file,
    baseDir,
    hash: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** The definition's source paths (files or globs, absolute or relative to its folder). */
export function sourcePaths(definition: PipelineDefinition): string[] {
  const s = definition.sources;
  return [s.events.path, s.customers?.path, s.labels?.path].filter(isString);
}
